// The lifecycle tells the truth on real time scales. Each story of the lifecycle issue runs
// against the built gateway and worker as processes, with the emulator's operations lasting
// 45 minutes of Compute time (2.7 s at a time scale of 1000) and everything else scaled alike.
// On the code before the lifecycle state machine, each of these ended with a false status.
import { Code, ConnectError } from "@connectrpc/connect";
import { Operation_Status, type Operation } from "@imagesvc/proto";
import { describe, expect, it } from "vitest";
import { imageRequest, operationRef } from "../e2e/stack.test-helper";
import { expectSucceeded, until, withTruth, type Truth } from "./truth.test-helper";

/** The first insert takes effect at Compute, and then its answer is lost to `fault`. */
const answerLost = (t: Truth, fault: { effect: string; status?: number }) =>
  t.admin.addFault({ route: "images.insert", phase: "after", count: 1, ...fault });

/** Creates an image, waits until Compute has it RUNNING, then kills the worker with SIGKILL. */
async function runningThenKilled(t: Truth, name: string): Promise<Operation> {
  const worker = await t.startWorker();
  const op = await t.client.createImage(imageRequest(name));
  await until(
    async () => (await t.client.getOperation(operationRef(op))).status === Operation_Status.RUNNING,
    "RUNNING",
  );
  await worker.stop("SIGKILL");
  return op;
}

describe("the lifecycle tells the truth on real time scales", () => {
  it("1. follows a live import through a burst of 25 wait errors and a spent insert window, and reports DONE when Compute does", () =>
    withTruth(async (t) => {
      // The insert window is long gone by the time the wait errors arrive: it must not matter.
      await t.startWorker({
        JOB_MAX_RETRY_MS: "100",
        WAIT_RETRY_INITIAL_MS: "10",
        WAIT_RETRY_MAX_MS: "20",
      });
      const op = await t.client.createImage(imageRequest("burst"));
      const versions = t.watch(op);
      await until(() => t.callsOf("globalOperations.wait") >= 1, "the first wait");
      t.admin.addFault({ route: "globalOperations.wait", effect: "error", status: 503, count: 25 });
      const seen = await versions;
      const done = seen.at(-1);
      expectSucceeded(done);
      expect(t.imageOf("burst").map((i) => i.status)).toEqual(["READY"]);
      expect(
        seen.some((v) =>
          /^Compute unreachable for \d+ s \(HTTP 503 .*\); still following$/.test(v.statusMessage),
        ),
      ).toBe(true);
      // The status never went back while Compute was unreachable.
      for (let i = 1; i < seen.length; i++)
        expect(seen[i]?.status).toBeGreaterThanOrEqual(seen[i - 1]?.status ?? 0);
      expect(t.insertsOf(op)).toBe(1);
    }));

  it("2a. a re-run after a crash resumes the recorded Compute operation and never inserts again, though Compute has forgotten the requestId", () =>
    // Compute remembers the requestId for 5 minutes; the import takes 45.
    withTruth({ requestIdTtlMs: 5 * 60_000 }, async (t) => {
      const op = await runningThenKilled(t, "resumed");
      await new Promise((r) => setTimeout(r, 400)); // the requestId expires (300 ms)
      await t.startWorker();
      expectSucceeded((await t.watch(op)).at(-1));
      expect(t.imageOf("resumed")).toHaveLength(1);
      expect(t.insertsOf(op)).toBe(1);
    }));

  it("2b. a re-run whose Compute operation is gone settles the truth by the image", () =>
    // Compute forgets finished operations after a minute of its time (60 ms here).
    withTruth({ operationRetentionMs: 60_000 }, async (t) => {
      const op = await runningThenKilled(t, "forgotten");
      // The import finishes at Compute while no worker runs, and Compute forgets its operation.
      await until(() => t.imageOf("forgotten")[0]?.status === "READY", "the image READY");
      await new Promise((r) => setTimeout(r, 100));
      await t.startWorker();
      expectSucceeded((await t.watch(op)).at(-1));
      expect(t.insertsOf(op)).toBe(1);
      expect(t.callsOf("images.get")).toBeGreaterThanOrEqual(1);
    }));

  it("2c. an insert whose answer was lost, retried after Compute forgot the requestId, meets 409 for its own image and follows it", () =>
    // The answer to the first insert is lost after it took effect; the requestId is remembered
    // for one second of Compute's time (1 ms here), so the retry gets 409 for our own image.
    withTruth({ requestIdTtlMs: 1000 }, async (t) => {
      answerLost(t, { effect: "reset" });
      await t.startWorker();
      const op = await t.client.createImage(imageRequest("lost-answer"));
      expectSucceeded((await t.watch(op)).at(-1));
      expect(t.imageOf("lost-answer").map((i) => i.status)).toEqual(["READY"]);
      expect(t.insertsOf(op)).toBe(2);
    }));

  it("2d. a 409 for someone else's image is RESOURCE_ALREADY_EXISTS, as before", () =>
    withTruth({ operationDurationMs: 0 }, async (t) => {
      await t.startWorker();
      await t.watch(await t.client.createImage(imageRequest("taken")));
      const second = await t.client.createImage(imageRequest("taken"));
      const done = (await t.watch(second)).at(-1);
      expect(done?.httpErrorStatusCode).toBe(409);
      expect(done?.error?.errors[0]?.code).toBe("RESOURCE_ALREADY_EXISTS");
      expect(t.imageOf("taken")).toHaveLength(1);
    }));

  it("3. a cancel after an insert reached Compute (its answer lost, the retry pending) is refused, and the operation ends with the image", () =>
    withTruth(async (t) => {
      answerLost(t, { effect: "error", status: 503 });
      // The retry waits a while: the moment the old code took for "not started yet".
      await t.startWorker({ WAIT_RETRY_INITIAL_MS: "1500", WAIT_RETRY_MAX_MS: "1500" });
      const op = await t.client.createImage(imageRequest("not-cancellable"));
      await until(() => t.insertsOf(op) >= 1, "the first insert");
      const refused = await t.client
        .cancelOperation(operationRef(op))
        .catch((e: unknown) => ConnectError.from(e));
      expect(refused).toBeInstanceOf(ConnectError);
      expect((refused as ConnectError).code).toBe(Code.FailedPrecondition);
      expect((refused as ConnectError).rawMessage).toMatch(
        /an insert was sent to Compute .* Compute cannot cancel an image insert/,
      );
      expectSucceeded((await t.watch(op)).at(-1));
      expect(t.imageOf("not-cancellable")).toHaveLength(1);
    }));

  it("3b. a cancel before any insert succeeds, and no insert is ever sent", () =>
    withTruth(async (t) => {
      const op = await t.client.createImage(imageRequest("cancelled"));
      const cancelled = await t.client.cancelOperation(operationRef(op));
      expect(cancelled.status).toBe(Operation_Status.DONE);
      expect(cancelled.error?.errors[0]?.code).toBe("CANCELLED");
      await t.startWorker();
      await new Promise((r) => setTimeout(r, 300));
      expect(t.admin.state().insertCalls[op.clientOperationId]).toBeUndefined();
      expect(t.imageOf("cancelled")).toEqual([]);
    }));
});
