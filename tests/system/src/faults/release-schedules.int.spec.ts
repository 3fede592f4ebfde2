// A schedule survives what a worker and Redis go through: DeprecateImage plans OBSOLETE and
// DELETED seconds apart; the worker is killed with SIGKILL and Redis restarted (its AOF kept)
// before either is due, and two workers take over. Each step is still enacted once, at (not
// before) its time and within the reconciler's bound, by an operation a reconciler records, and
// Compute ends showing the whole plan.
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createComputeClient } from "@imagesvc/compute";
import { Operation_Status, type Operation } from "@imagesvc/proto";
import { startRedisServer } from "@imagesvc/testing";
import { OAuth2Client } from "google-auth-library";
import { describe, expect, it } from "vitest";
import { startStack } from "../e2e/stack.test-helper";

const TOKEN = "schedule-faults-token";

describe("release schedules under faults", () => {
  it("enacts each step once, on time, through a worker kill -9 and a Redis restart", async () => {
    const redis = await startRedisServer({ appendonly: true });
    const stack = await startStack({
      emulator: { staticTokens: [TOKEN], operationDurationMs: 300 },
      gateway: { settings: { REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: 2000 } },
    });
    const env = {
      REDIS_URL: redis.url,
      REDIS_COMMAND_TIMEOUT_MS: "2000",
      JOB_LOCK_MS: "1000",
      RECONCILE_INTERVAL_MS: "200",
    };
    const auth = new OAuth2Client();
    auth.setCredentials({ access_token: TOKEN, expiry_date: Date.now() + 3_600_000 });
    const compute = createComputeClient({
      endpoint: stack.emulator.url,
      auth,
      timeoutMs: 5000,
      waitTimeoutMs: 5000,
    });
    const client = stack.client;
    const waitDone = async (op: Operation) => {
      for (;;) {
        const now = await client.waitOperation({ project: "my-project", operation: op.name });
        if (now.status === Operation_Status.DONE) return now;
      }
    };
    try {
      let worker = await stack.startWorker(env);
      const created = await waitDone(
        await client.createImage({
          project: "my-project",
          image: {
            name: "sched-1",
            family: "sched",
            sourceImage: "projects/debian-cloud/global/images/family/debian-12",
          },
        }),
      );
      expect(created.error).toBeUndefined();
      const obsoleteAt = Date.now() + 4000;
      const deleteAt = obsoleteAt + 1500;
      const planned = await waitDone(
        await client.deprecateImage({
          project: "my-project",
          image: "sched-1",
          state: "DEPRECATED",
          obsoleteTime: timestampFromMs(obsoleteAt),
          deleteTime: timestampFromMs(deleteAt),
        }),
      );
      expect(planned.error).toBeUndefined();
      await worker.stop("SIGKILL");
      await redis.restart();
      // Two workers now: two reconcilers find each step at once, and record one operation.
      worker = await stack.startWorker(env);
      await stack.startWorker(env);
      const stateOf = async () =>
        ((await compute.getImage("my-project", "sched-1"))["deprecated"] as { state?: string })
          .state;
      let sawObsolete = false;
      for (const deadline = Date.now() + 20_000; (await stateOf()) !== "DELETED";) {
        if (Date.now() > deadline) throw new Error("the schedule was never enacted");
        const state = await stateOf();
        if (state === "OBSOLETE") sawObsolete = true;
        // Never before its time.
        if (state === "OBSOLETE") expect(Date.now()).toBeGreaterThanOrEqual(obsoleteAt);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(Date.now()).toBeGreaterThanOrEqual(deleteAt);
      expect(sawObsolete).toBe(true);
      const steps = (await client.listOperations({ project: "my-project" })).items.filter(
        (o) => o.user === "imagesvc-reconciler",
      );
      // One operation per step, each DONE without error, each recorded at or after its time.
      expect(steps).toHaveLength(2);
      const byTime = [...steps].sort((a, b) => Date.parse(a.insertTime) - Date.parse(b.insertTime));
      // At or after its time, within the bound: the reconciler's interval (200 ms here) and the
      // queue's wait; a loaded CI machine is given 3 s.
      for (const [step, at] of [
        [byTime[0], obsoleteAt],
        [byTime[1], deleteAt],
      ] as const) {
        const recorded = Date.parse(step?.insertTime ?? "");
        expect(recorded).toBeGreaterThanOrEqual(at);
        expect(recorded).toBeLessThan(at + 3000);
      }
      for (const step of steps) expect((await waitDone(step)).error).toBeUndefined();
      expect((await compute.getImage("my-project", "sched-1"))["deprecated"]).toMatchObject({
        state: "DELETED",
        obsolete: new Date(obsoleteAt).toISOString(),
        deleted: new Date(deleteAt).toISOString(),
      });
      process.stdout.write(
        `FAULTS schedule-through-kill-and-restart: steps=${steps.length} obsoleteLateMs=${Date.parse(byTime[0]?.insertTime ?? "") - obsoleteAt} deleteLateMs=${Date.parse(byTime[1]?.insertTime ?? "") - deleteAt}\n`,
      );
    } finally {
      await stack.close();
      await redis.close();
    }
  }, 60_000);
});
