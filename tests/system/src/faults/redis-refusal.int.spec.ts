// Redis refusing writes, against the built gateway and worker: a burst of CreateImage that fills
// a Redis under `maxmemory` with `noeviction` gets UNAVAILABLE naming memory for what Redis
// refused (never INTERNAL), and every refused request id succeeds once Redis has room again,
// with exactly one image each.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ImageService, Operation_Status, type Operation } from "@imagesvc/proto";
import { startRedisServer, type RedisServer } from "@imagesvc/testing";
import { Redis } from "ioredis";
import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../e2e/stack.test-helper";
import { until } from "./truth.test-helper";

const BURST = 200;
let server: RedisServer | undefined;
let stack: Stack | undefined;

afterEach(async () => {
  await stack?.close();
  await server?.close();
});

const request = (i: number, requestId: string) => ({
  project: "my-project",
  requestId,
  image: {
    name: `full-${i}`,
    // About 2 KB per request, stored in the record and in the job: the burst fills 300 KB fast.
    description: "x".repeat(2000),
    sourceImage: "projects/debian-cloud/global/images/family/debian-12",
  },
});

describe("Redis refusing writes", () => {
  it("answers a burst that fills Redis with UNAVAILABLE naming memory, and every refused request id succeeds later with one image", async () => {
    server = await startRedisServer();
    stack = await startStack({ gateway: { settings: { REDIS_URL: server.url } } });
    const gateway = await stack.spawnGateway({
      REDIS_URL: server.url,
      RATE_LIMIT_CREATE_PER_MINUTE: "1000000",
      RATE_LIMIT_CREATE_BURST: "1000000",
    });
    const client = createClient(
      ImageService,
      createConnectTransport({ baseUrl: gateway.url, httpVersion: "2" }),
    );
    const admin = new Redis(server.url);
    try {
      // Warm up (scripts loaded, queue keys made), then leave Redis 300 KB of room.
      await client.createImage(request(-1, randomUUID()));
      const used = Number(/used_memory:(\d+)/.exec(await admin.info("memory"))?.[1]);
      await admin.config("SET", "maxmemory-policy", "noeviction");
      await admin.config("SET", "maxmemory", String(used + 300_000));

      const ids = Array.from({ length: BURST }, () => randomUUID());
      const answers = await Promise.all(
        ids.map((id, i) =>
          client.createImage(request(i, id)).then(
            (op) => ({ op }),
            (e: unknown) => ({ error: ConnectError.from(e) }),
          ),
        ),
      );
      const refused = answers.flatMap((a, i) => ("error" in a ? [i] : []));
      expect(refused.length).toBeGreaterThan(0);
      for (const a of answers) {
        if (!("error" in a)) continue;
        expect(a.error.code, a.error.rawMessage).toBe(Code.Unavailable);
        expect(a.error.rawMessage).toMatch(
          /^the service's storage is out of memory \(Redis refused the write: maxmemory reached under noeviction\); retry shortly with the same request_id$/,
        );
      }

      // Room again: each refused request, repeated as it was, succeeds.
      await admin.config("SET", "maxmemory", "0");
      const retried = await Promise.all(
        refused.map((i) => client.createImage(request(i, ids[i] ?? ""))),
      );
      const operations = new Map<string, Operation>();
      for (const [i, a] of answers.entries()) {
        const op = "op" in a ? a.op : retried[refused.indexOf(i)];
        if (op !== undefined) operations.set(ids[i] ?? "", op);
      }
      expect(operations.size).toBe(BURST);

      await stack.startWorker({ REDIS_URL: server.url });
      await until(
        async () => {
          const statuses = await Promise.all(
            [...operations.values()].map(async (op) => {
              const now = await client.getOperation({ project: "my-project", operation: op.name });
              return now.status;
            }),
          );
          return statuses.every((s) => s === Operation_Status.DONE);
        },
        "every operation DONE",
        60_000,
      );
      const images = stack.emulator.admin
        .state()
        .images.filter((i) => i.name.startsWith("full-") && i.name !== "full--1");
      expect(images).toHaveLength(BURST);
      const labels = images.map(
        (i) => (i["labels"] as Record<string, string>)["imagesvc-request-id"],
      );
      expect(new Set(labels)).toEqual(new Set(ids));
      for (const op of operations.values()) {
        const done = await client.getOperation({ project: "my-project", operation: op.name });
        expect(done.error, JSON.stringify(done.error)).toBeUndefined();
      }
    } finally {
      admin.disconnect();
      await gateway.app.stop();
    }
  });
});
