// The lifecycle tells the truth on real time scales. Each story of the lifecycle issue runs
// against the built gateway and worker as processes, with the emulator's operations lasting
// 45 minutes of Compute time (2.7 s at a time scale of 1000) and everything else scaled alike.
// On the code before the lifecycle state machine, each of these ended with a false status.
import { Code, ConnectError } from "@connectrpc/connect";
import { Operation_Status, type Operation } from "@imagesvc/proto";
import { describe, expect, it } from "vitest";
import { imageRequest } from "../e2e/stack.test-helper";
import {
  expectSucceeded,
  imageOf,
  startTruth as start,
  until,
  watch,
  type Truth,
} from "./truth.test-helper";

/** Creates an image, waits until Compute has it RUNNING, then kills the worker with SIGKILL. */
async function runningThenKilled(t: Truth, name: string): Promise<Operation> {
  const worker = await t.startWorker();
  const op = await t.client.createImage(imageRequest(name));
  await until(
    async () =>
      (await t.client.getOperation({ project: "my-project", operation: op.name })).status ===
      Operation_Status.RUNNING,
    "RUNNING",
  );
  await worker.stop("SIGKILL");
  return op;
}

describe("the lifecycle tells the truth on real time scales", () => {
  it("1. follows a live import through a burst of 25 wait errors and a spent insert window, and reports DONE when Compute does", async () => {
    const t = await start();
    try {
      // The insert window is long gone by the time the wait errors arrive: it must not matter.
      await t.startWorker({
        JOB_MAX_RETRY_MS: "100",
        WAIT_RETRY_INITIAL_MS: "10",
        WAIT_RETRY_MAX_MS: "20",
      });
      const op = await t.client.createImage(imageRequest("burst"));
      const versions = watch(t, op);
      await until(
        () => (t.stack.emulator.admin.state().calls["globalOperations.wait"] ?? 0) >= 1,
        "the first wait",
      );
      t.stack.emulator.admin.addFault({
        route: "globalOperations.wait",
        effect: "error",
        status: 503,
        count: 25,
      });
      const seen = await versions;
      const done = seen.at(-1);
      expectSucceeded(done);
      expect(imageOf(t, "burst").map((i) => i.status)).toEqual(["READY"]);
      expect(
        seen.some((v) =>
          /^Compute unreachable for \d+ s \(HTTP 503 .*\); still following$/.test(v.statusMessage),
        ),
      ).toBe(true);
      // The status never went back while Compute was unreachable.
      for (let i = 1; i < seen.length; i++)
        expect(seen[i]?.status).toBeGreaterThanOrEqual(seen[i - 1]?.status ?? 0);
      expect(t.stack.emulator.admin.state().insertCalls[op.clientOperationId]).toBe(1);
    } finally {
      await t.close();
    }
  });

  it("2a. a re-run after a crash resumes the recorded Compute operation and never inserts again, though Compute has forgotten the requestId", async () => {
    // Compute remembers the requestId for 5 minutes; the import takes 45.
    const t = await start({ requestIdTtlMs: 5 * 60_000 });
    try {
      const op = await runningThenKilled(t, "resumed");
      await new Promise((r) => setTimeout(r, 400)); // the requestId expires (300 ms)
      await t.startWorker();
      const done = (await watch(t, op)).at(-1);
      expectSucceeded(done);
      expect(imageOf(t, "resumed")).toHaveLength(1);
      expect(t.stack.emulator.admin.state().insertCalls[op.clientOperationId]).toBe(1);
    } finally {
      await t.close();
    }
  });

  it("2b. a re-run whose Compute operation is gone settles the truth by the image", async () => {
    // Compute forgets finished operations after a minute of its time (60 ms here).
    const t = await start({ operationRetentionMs: 60_000 });
    try {
      const op = await runningThenKilled(t, "forgotten");
      // The import finishes at Compute while no worker runs, and Compute forgets its operation.
      await until(() => imageOf(t, "forgotten")[0]?.status === "READY", "the image READY");
      await new Promise((r) => setTimeout(r, 100));
      await t.startWorker();
      const done = (await watch(t, op)).at(-1);
      expectSucceeded(done);
      expect(t.stack.emulator.admin.state().insertCalls[op.clientOperationId]).toBe(1);
      expect(t.stack.emulator.admin.state().calls["images.get"]).toBeGreaterThanOrEqual(1);
    } finally {
      await t.close();
    }
  });

  it("2c. an insert whose answer was lost, retried after Compute forgot the requestId, meets 409 for its own image and follows it", async () => {
    // The answer to the first insert is lost after it took effect; the requestId is remembered
    // for one second of Compute's time (1 ms here), so the retry gets 409 for our own image.
    const t = await start({ requestIdTtlMs: 1000 });
    try {
      t.stack.emulator.admin.addFault({
        route: "images.insert",
        effect: "reset",
        phase: "after",
        count: 1,
      });
      await t.startWorker();
      const op = await t.client.createImage(imageRequest("lost-answer"));
      const done = (await watch(t, op)).at(-1);
      expectSucceeded(done);
      expect(imageOf(t, "lost-answer").map((i) => i.status)).toEqual(["READY"]);
      expect(t.stack.emulator.admin.state().insertCalls[op.clientOperationId]).toBe(2);
    } finally {
      await t.close();
    }
  });

  it("2d. a 409 for someone else's image is RESOURCE_ALREADY_EXISTS, as before", async () => {
    const t = await start({ operationDurationMs: 0 });
    try {
      await t.startWorker();
      await watch(t, await t.client.createImage(imageRequest("taken")));
      const second = await t.client.createImage(imageRequest("taken"));
      const done = (await watch(t, second)).at(-1);
      expect(done?.httpErrorStatusCode).toBe(409);
      expect(done?.error?.errors[0]?.code).toBe("RESOURCE_ALREADY_EXISTS");
      expect(imageOf(t, "taken")).toHaveLength(1);
    } finally {
      await t.close();
    }
  });

  it("3. a cancel after an insert reached Compute (its answer lost, the retry pending) is refused, and the operation ends with the image", async () => {
    const t = await start();
    try {
      t.stack.emulator.admin.addFault({
        route: "images.insert",
        effect: "error",
        status: 503,
        phase: "after",
        count: 1,
      });
      // The retry waits a while: the moment the old code took for "not started yet".
      await t.startWorker({ WAIT_RETRY_INITIAL_MS: "1500", WAIT_RETRY_MAX_MS: "1500" });
      const op = await t.client.createImage(imageRequest("not-cancellable"));
      await until(
        () => (t.stack.emulator.admin.state().insertCalls[op.clientOperationId] ?? 0) >= 1,
        "the first insert",
      );
      const refused = await t.client
        .cancelOperation({ project: "my-project", operation: op.name })
        .catch((e: unknown) => ConnectError.from(e));
      expect(refused).toBeInstanceOf(ConnectError);
      expect((refused as ConnectError).code).toBe(Code.FailedPrecondition);
      expect((refused as ConnectError).rawMessage).toMatch(
        /an insert was sent to Compute .* Compute cannot cancel an image insert/,
      );
      const done = (await watch(t, op)).at(-1);
      expectSucceeded(done);
      expect(imageOf(t, "not-cancellable")).toHaveLength(1);
    } finally {
      await t.close();
    }
  });

  it("3b. a cancel before any insert succeeds, and no insert is ever sent", async () => {
    const t = await start();
    try {
      const op = await t.client.createImage(imageRequest("cancelled"));
      const cancelled = await t.client.cancelOperation({
        project: "my-project",
        operation: op.name,
      });
      expect(cancelled.status).toBe(Operation_Status.DONE);
      expect(cancelled.error?.errors[0]?.code).toBe("CANCELLED");
      await t.startWorker();
      await new Promise((r) => setTimeout(r, 300));
      expect(t.stack.emulator.admin.state().insertCalls[op.clientOperationId]).toBeUndefined();
      expect(imageOf(t, "cancelled")).toEqual([]);
    } finally {
      await t.close();
    }
  });
});
