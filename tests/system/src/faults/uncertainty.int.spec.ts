// Truth under uncertainty: when Compute does not answer, or answers inconsistently for a moment,
// the operation never reports an outcome that is not known. Each story of the issue runs against
// the built gateway and worker as processes, on the emulator with Compute's time compressed. On
// the code before the settle rules, each of these ended with a false status, or spun.
import { operationKeys } from "@imagesvc/operations";
import { Operation_Status, type Operation } from "@imagesvc/proto";
import { describe, expect, it } from "vitest";
import { imageRequest, recordWithoutJob, startStack } from "../e2e/stack.test-helper";
import { expectSucceeded, until, withTruth, type Truth } from "./truth.test-helper";

const TOKEN = "uncertainty";

/** The statuses and messages a watcher saw, for the story's assertions. */
const messages = (versions: Operation[]) => versions.map((v) => v.statusMessage);

/**
 * Worker settings for when Compute has forgotten the request id at once: the worker settles an
 * insert without an answer by the image alone, waiting up to `settleMs` for it to appear and
 * taking 404s for `graceMs` before it believes them.
 */
const settledByImage = (settleMs: number, graceMs: number) => ({
  REQUEST_ID_MEMORY_MS: "0",
  INSERT_SETTLE_MS: String(settleMs),
  NOT_FOUND_GRACE_MS: String(graceMs),
});

/** The next insert takes `ms` at Compute before it takes effect and answers. */
const slowInsert = (t: Truth, ms: number) =>
  t.admin.addFault({ route: "images.insert", effect: "latency", latencyMs: ms, count: 1 });

/**
 * Creates image `name` while the insert takes `latencyMs` at Compute and the worker (with no retry
 * window, `env` on top) gives up on it after 300 ms; the operation ends DONE without an error.
 */
async function lateInsert(
  t: Truth,
  name: string,
  latencyMs: number,
  env: Record<string, string>,
): Promise<{ op: Operation; seen: Operation[] }> {
  slowInsert(t, latencyMs);
  await t.startWorker({ JOB_MAX_RETRY_MS: "0", COMPUTE_TIMEOUT_MS: "300", ...env });
  const op = await t.client.createImage(imageRequest(name));
  const seen = await t.watch(op);
  expectSucceeded(seen.at(-1));
  return { op, seen };
}

/** An image of someone else's under `name`, made directly at the emulator. */
async function foreignImage(t: Truth, name: string): Promise<void> {
  const res = await fetch(`${t.stack.emulator.url}/compute/v1/projects/my-project/global/images`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ name, sourceImage: "projects/debian-cloud/global/images/d" }),
  });
  expect(res.status).toBe(200);
}

describe("an unanswered insert is never a rejection", () => {
  it("1a. past the retry window, proves an insert whose answer never came with another insert of the same request id", () =>
    withTruth(async (t) => {
      // The first insert takes 400 ms at Compute, and the worker gives up on it after 300 ms:
      // the window (none) is over when it does, and Compute acts on it 100 ms later.
      const { op, seen } = await lateInsert(t, "late-insert", 400, {
        REQUEST_ID_MEMORY_MS: "3000",
        WAIT_RETRY_INITIAL_MS: "500",
        WAIT_RETRY_MAX_MS: "1000",
      });
      expect(t.imageOf("late-insert").map((i) => i.status)).toEqual(["READY"]);
      expect(t.insertsOf(op)).toBe(2);
      expect(messages(seen).join("\n")).toMatch(
        /insert attempt 1 got no definite answer \(timeout\); the retry window is over, so asking Compute again .* with the same request id/,
      );
    }));

  it("1b. past Compute's requestId memory, waits out the settle period for the image of an insert that landed late, and follows it", () =>
    withTruth(async (t) => {
      const { op, seen } = await lateInsert(t, "settled-late", 1500, settledByImage(4000, 500));
      expect(t.imageOf("settled-late")).toHaveLength(1);
      expect(t.insertsOf(op)).toBe(1);
      // While the image was not there, the operation stayed PENDING and said why.
      const uncertain = seen.filter((v) => /may still take effect/.test(v.statusMessage));
      expect(uncertain.length).toBeGreaterThan(0);
      for (const v of uncertain) expect(v.status).toBe(Operation_Status.PENDING);
    }));

  it("1c. rejects an insert that never reached Compute only after the settle period, saying so", () =>
    withTruth(async (t) => {
      t.admin.addFault({ route: "images.insert", effect: "reset", count: 1 });
      await t.startWorker({ JOB_MAX_RETRY_MS: "0", ...settledByImage(1500, 300) });
      const started = Date.now();
      const op = await t.client.createImage(imageRequest("never-landed"));
      const seen = await t.watch(op);
      const done = seen.at(-1);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
      expect(done?.status).toBe(Operation_Status.DONE);
      expect(done?.error?.errors[0]?.message).toMatch(
        /^gave up after 1 attempts .*; Compute showed no image of this request \d+ s after the last attempt without an answer$/,
      );
      expect(t.imageOf("never-landed")).toEqual([]);
      expect(t.insertsOf(op)).toBe(1);
    }));

  it("1d. a worker that lost its lock mid-insert cannot make the re-run conclude falsely: the re-run waits for the zombie's insert and follows its image", () =>
    withTruth(async (t) => {
      /** A stopped process cannot be stopped: thaw it first, whatever failed. */
      let thaw = () => true;
      try {
        // The insert takes 12 s at Compute; the worker sending it is frozen meanwhile (a long
        // pause, a partition), so its lock expires and another worker re-runs the job well before
        // the insert lands, however slow the machine.
        slowInsert(t, 12_000);
        const env = {
          JOB_MAX_RETRY_MS: "0",
          COMPUTE_TIMEOUT_MS: "30000",
          ...settledByImage(20_000, 300),
        };
        const zombie = await t.startWorker(env);
        thaw = () => zombie.child.kill("SIGCONT");
        const op = await t.client.createImage(imageRequest("zombie"));
        await until(() => t.insertsOf(op) >= 1, "the first insert");
        zombie.child.kill("SIGSTOP");
        await t.startWorker(env);
        const versions = t.watch(op);
        // The re-run has taken the job: only it looks at the image (the old code concluded here).
        await until(() => t.callsOf("images.get") >= 1, "the re-run looking at the image");
        expect(t.imageOf("zombie")).toEqual([]);
        // Thawed while its insert is still in flight, the first worker gives the job up on its own:
        // no lock renewal for too long. Its insert lands all the same.
        zombie.child.kill("SIGCONT");
        await until(
          () => zombie.lines.some((l) => /may have lost the job's lock/.test(String(l["msg"]))),
          "the zombie stopping",
        );
        const done = (await versions).at(-1);
        expectSucceeded(done);
        expect(t.imageOf("zombie")).toHaveLength(1);
        expect(t.insertsOf(op)).toBe(1);
      } finally {
        thaw();
      }
    }));
});

describe("no single read ends an operation", () => {
  it("2a. one 404 on wait and one on images.get right after the insert do not end a live import", () =>
    withTruth(async (t) => {
      t.admin.addFault({ route: "globalOperations.wait", effect: "notFound", count: 1 });
      t.admin.addFault({ route: "images.get", effect: "notFound", count: 1 });
      await t.startWorker({ NOT_FOUND_GRACE_MS: "2000", INSERT_SETTLE_MS: "2000" });
      const op = await t.client.createImage(imageRequest("not-visible-yet"));
      const seen = await t.watch(op);
      expectSucceeded(seen.at(-1));
      expect(t.imageOf("not-visible-yet").map((i) => i.status)).toEqual(["READY"]);
      expect(messages(seen).join("\n")).toMatch(
        /answer 404 for 0 s; an accepted insert can take a while to become visible/,
      );
    }));

  it("2b. an image that is really gone ends the operation, once the 404s have lasted the grace", () =>
    withTruth({ staticTokens: [TOKEN] }, async (t) => {
      await t.startWorker({ NOT_FOUND_GRACE_MS: "800", INSERT_SETTLE_MS: "800" });
      const op = await t.client.createImage(imageRequest("deleted"));
      const versions = t.watch(op);
      await until(() => t.imageOf("deleted").length === 1, "the image");
      const computeOp = t.admin.state().operations[0]?.name ?? "";
      // Someone deletes the image and its operation while it imports.
      const base = `${t.stack.emulator.url}/compute/v1/projects/my-project/global`;
      const auth = { authorization: `Bearer ${TOKEN}` };
      await fetch(`${base}/images/deleted`, { method: "DELETE", headers: auth });
      await fetch(`${base}/operations/${computeOp}`, { method: "DELETE", headers: auth });
      const gone = Date.now();
      const done = (await versions).at(-1);
      expect(Date.now() - gone).toBeGreaterThanOrEqual(800);
      expect(done?.httpErrorStatusCode).toBe(404);
      expect(done?.error?.errors[0]?.message).toMatch(/is gone and image deleted does not exist/);
    }));
});

describe("every loop backs off and ends", () => {
  it("3. a 409 followed by a failing images.get backs off to its cap, stays PENDING saying why, and ends once Compute answers", () =>
    withTruth({ staticTokens: [TOKEN] }, async (t) => {
      await foreignImage(t, "taken");
      t.admin.addFault({ route: "images.get", effect: "error", status: 503 });
      await t.startWorker({ WAIT_RETRY_INITIAL_MS: "50", WAIT_RETRY_MAX_MS: "400" });
      const op = await t.client.createImage(imageRequest("taken"));
      await until(() => t.callsOf("images.get") >= 1, "the first image check");
      const first = Date.now();
      const before = t.callsOf("images.get");
      await new Promise((r) => setTimeout(r, 3000));
      const calls = t.callsOf("images.get") - before;
      const elapsed = Date.now() - first;
      // Backoff 25-50, 50-100, 100-200, then 200-400 ms at the cap: at most the ramp plus one
      // call per half cap. The old loop called every 25-50 ms: about 80 times.
      expect(calls).toBeLessThanOrEqual(4 + Math.ceil(elapsed / 200));
      const pending = await t.client.getOperation({ project: "my-project", operation: op.name });
      expect(pending.status).toBe(Operation_Status.PENDING);
      expect(pending.statusMessage).toMatch(
        /^checking image taken failed \(HTTP 503 backendError\); whether an insert took effect is not known yet; checking again in/,
      );
      t.admin.clearFaults();
      const done = (await t.watch(op)).at(-1);
      expect(done?.status).toBe(Operation_Status.DONE);
      expect(done?.error?.errors[0]?.code).toBe("RESOURCE_ALREADY_EXISTS");
    }));
});

describe("the sweeper survives anything one record holds", () => {
  it("4. skips an unreadable record among lost jobs, logs and counts it once, and every other operation reaches DONE", async () => {
    // The gateway died between writing each record and queueing its job, so only the sweeper
    // can get these operations going.
    const stack = await startStack();
    try {
      const lost: string[] = [];
      for (const name of ["sweep-corrupt", "sweep-a", "sweep-b"])
        lost.push(await recordWithoutJob(stack, name));
      // The oldest record, the first the sweeper meets, is not JSON any more.
      const corrupt = operationKeys(stack.prefix, "my-project", lost[0] ?? "").record;
      await stack.redis.client.hset(corrupt, "op", "{not json");
      const worker = await stack.startWorker({ SWEEP_INTERVAL_MS: "200", SWEEP_GRACE_MS: "0" });
      for (const name of lost.slice(1))
        await until(
          async () =>
            (await stack.client.getOperation({ project: "my-project", operation: name })).status ===
            Operation_Status.DONE,
          `${name} DONE`,
        );
      await new Promise((r) => setTimeout(r, 600)); // a few more sweeps meet it again
      const reports = worker.lines.filter((l) =>
        /cannot read this operation's record and skips it/.test(String(l["msg"])),
      );
      expect(reports.map((l) => l["key"])).toEqual([corrupt]);
      const metrics = await (await fetch(`${String(worker.readyLine["admin"])}/metrics`)).text();
      expect(metrics).toMatch(/^imagesvc_sweeper_unreadable_total{app="worker"} 1$/m);
    } finally {
      await stack.close();
    }
  });
});
