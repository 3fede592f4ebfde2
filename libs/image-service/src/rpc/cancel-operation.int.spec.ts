// CancelOperation against real Redis: a gateway that dies right after committing a cancel still
// leaves a worker able to send the DONE webhook the request asked for.
import type { Client } from "@connectrpc/connect";
import { createOperationStore, type OperationBus } from "@imagesvc/operations";
import { type ImageService, Operation_Status } from "@imagesvc/proto";
import { createImageQueue, type ImageQueue, type WebhookQueue } from "@imagesvc/queue";
import { useTestRedis, type TestRedis } from "@imagesvc/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { inMemoryClient } from "../service.test-helper";

let redis: TestRedis;
let queue: ImageQueue;
beforeEach(async () => {
  redis = await useTestRedis();
});
afterEach(async () => {
  await queue.obliterate();
  await queue.close();
  await redis.cleanup();
});

/** The gateway's service on real Redis; `webhooks.ensure` is where this gateway "dies". */
function service(ensure: WebhookQueue["ensure"]): Client<typeof ImageService> {
  const prefix = redis.prefix.slice(0, -1);
  queue = createImageQueue({
    connection: redis.client,
    prefix,
    attempts: 3,
    backoffMs: 1000,
    retentionMs: 3_600_000,
    startDelayMs: 60_000,
  });
  return inMemoryClient({
    store: createOperationStore({
      redis: redis.client,
      prefix,
      pubsub: "classic",
      retentionMs: 3_600_000,
    }),
    bus: {} as OperationBus,
    queue,
    webhooks: { ensure, close: () => Promise.resolve() },
  });
}

describe("CancelOperation", () => {
  it("queues a lost job before committing the cancel, so a gateway dying after the commit still leaves the DONE webhook to a worker", async () => {
    const gatewayDies = () => Promise.reject(new Error("the gateway died after the commit"));
    const client = service(gatewayDies);
    const op = await client.createImage({
      project: "my-project",
      image: {
        name: "web",
        rawDisk: { source: "https://storage.googleapis.com/my-bucket/web.tar.gz" },
      },
      notification: { url: "https://hooks.example.com/images", on: [Operation_Status.DONE] },
    });
    // The job is lost (the gateway that created it died before queueing it, say).
    expect(await queue.remove(op.name)).toBe(true);
    expect((await queue.info(op.name)).status).toBe("missing");

    await expect(
      client.cancelOperation({ project: "my-project", operation: op.name }),
    ).rejects.toThrow();

    const got = await client.getOperation({ project: "my-project", operation: op.name });
    expect(got.status).toBe(Operation_Status.DONE);
    expect(got.error?.errors[0]?.code).toBe("CANCELLED");
    // The job is there for a worker, which sees DONE and queues the delivery (same id).
    expect((await queue.info(op.name)).status).toBe("live");
  });

  it("queues no job for a cancel whose request asked for no DONE webhook", async () => {
    const client = service(() => Promise.reject(new Error("never called")));
    const op = await client.createImage({
      project: "my-project",
      image: {
        name: "web",
        rawDisk: { source: "https://storage.googleapis.com/my-bucket/web.tar.gz" },
      },
    });
    await queue.remove(op.name);
    const cancelled = await client.cancelOperation({ project: "my-project", operation: op.name });
    expect(cancelled.error?.errors[0]?.code).toBe("CANCELLED");
    expect((await queue.info(op.name)).status).toBe("missing");
  });
});
