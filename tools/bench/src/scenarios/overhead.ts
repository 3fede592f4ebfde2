import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createComputeClient } from "@imagesvc/compute";
import { ImageSchema, ImageService, Operation_Status } from "@imagesvc/proto";
import { QUEUE_NAME, queuePrefix } from "@imagesvc/queue";
import type { Redis } from "ioredis";
import type { AppProcess } from "../processes";
import { createRequest, now, PREFIX, PROJECT, SETTINGS } from "../settings";
import { median, quantile, round } from "../stats";

/** COMPUTE_TIMEOUT_MS and COMPUTE_WAIT_TIMEOUT_MS, as the deployment's defaults. */
const TIMEOUTS = { timeoutMs: 30_000, waitTimeoutMs: 150_000 };

export async function overheadRun(gateway: AppProcess, emulator: AppProcess, redis: Redis) {
  const client = createClient(ImageService, createGrpcTransport({ baseUrl: gateway.url }));
  // The worker's own Compute client, with tokens from the emulator's metadata server.
  process.env["GCE_METADATA_HOST"] = emulator.url.replace("http://", "");
  process.env["METADATA_SERVER_DETECTION"] = "assume-present";
  const compute = createComputeClient({
    ...TIMEOUTS,
    endpoint: emulator.url,
  });
  const image = (name: string) =>
    create(ImageSchema, {
      name,
      rawDisk: { source: "https://storage.googleapis.com/bench-bucket/images/web.tar.gz" },
      labels: { team: "bench" },
    });
  const direct: number[] = [];
  const service: number[] = [];
  /** Parts of the service path: the CreateImage call, and the watch's first message. */
  const createCall: number[] = [];
  const snapshot: number[] = [];
  /** Per service image: when the client sent CreateImage and when it saw DONE, ms since epoch. */
  const times: { operation: string; sent: number; done: number }[] = [];
  // Interleaved, so both see the same machine.
  for (let i = 0; i < SETTINGS.directImages; i++) {
    let t = now();
    // What the worker does: insert with a requestId, then follow the operation to DONE.
    const inserted = await compute.insertImage(PROJECT, image(`direct-${String(i)}`), {
      requestId: crypto.randomUUID(),
    });
    await compute.followOperation(PROJECT, inserted.name, { initial: inserted });
    direct.push(now() - t);

    t = now();
    const op = await client.createImage(createRequest(`service-${String(i)}`));
    const accepted = now();
    let first = true;
    for await (const update of client.watchOperation({ project: PROJECT, operation: op.name })) {
      if (first) {
        first = false;
        snapshot.push(now() - accepted);
      }
      if (update.status === Operation_Status.DONE) break;
    }
    service.push(now() - t);
    createCall.push(accepted - t);
    times.push({ operation: op.name, sent: t, done: now() });
  }
  // Where the service's time goes, from BullMQ's own stamps on each job (ms, this machine's
  // clock): queued by the gateway, taken by the worker, finished by the worker.
  const parts = { gateway: [] as number[], handOff: [] as number[], worker: [] as number[] };
  const toClient: number[] = [];
  for (const t of times) {
    const [queued, taken, finished] = (
      await redis.hmget(
        `${queuePrefix(PREFIX)}:${QUEUE_NAME}:${t.operation}`,
        "timestamp",
        "processedOn",
        "finishedOn",
      )
    ).map(Number);
    // A job hash that is gone reads as nulls, which Number() makes 0.
    if (!queued || !taken || !finished) continue;
    parts.gateway.push(queued - t.sent);
    parts.handOff.push(taken - queued);
    parts.worker.push(finished - taken);
    toClient.push(t.done - finished);
  }
  return {
    images: SETTINGS.directImages,
    directMedianMs: round(median(direct)),
    serviceMedianMs: round(median(service)),
    addedMedianMs: round(median(service) - median(direct)),
    createCallMedianMs: round(median(createCall)),
    watchFirstMessageMedianMs: round(median(snapshot)),
    directP99Ms: round(quantile(direct, 0.99)),
    serviceP99Ms: round(quantile(service, 0.99)),
    /**
     * Medians along the service path (BullMQ stamps in whole ms): client send → job queued (the
     * gateway's checks and writes), → job taken (BullMQ's hand-off), → job finished (the worker,
     * Compute included), → DONE at the client (publish, delivery, the watch's own open).
     */
    pathMedianMs: {
      untilQueued: round(median(parts.gateway)),
      handOff: round(median(parts.handOff)),
      worker: round(median(parts.worker)),
      untilClientHasDone: round(median(toClient)),
    },
  };
}
