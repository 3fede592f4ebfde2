// Truth under uncertainty: when Compute does not answer, or answers inconsistently for a moment,
// the operation never reports an outcome that is not known. Each story of the issue runs against
// the built gateway and worker as processes, on the emulator with Compute's time compressed. On
// the code before the settle rules, each of these ended with a false status, or spun.
import { operationKeys } from "@imagesvc/operations";
import { Operation_Status, type Operation } from "@imagesvc/proto";
import { describe, expect, it } from "vitest";
import { imageRequest, recordWithoutJob, startStack } from "../e2e/stack.test-helper";
import {
  expectSucceeded,
  imageOf,
  insertsOf,
  startTruth as start,
  until,
  watch,
  type Truth,
} from "./truth.test-helper";

const TOKEN = "uncertainty";

/** The statuses and messages a watcher saw, for the story's assertions. */
const messages = (versions: Operation[]) => versions.map((v) => v.statusMessage);

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
  it("1a. past the retry window, proves an insert whose answer never came with another insert of the same request id", async () => {
    const t = await start();
    try {
      // The first insert takes 400 ms at Compute, and the worker gives up on it after 300 ms:
      // the window (none) is over when it does, and Compute acts on it 100 ms later.
      t.stack.emulator.admin.addFault({
        route: "images.insert",
        effect: "latency",
        latencyMs: 400,
        count: 1,
      });
      await t.startWorker({
        JOB_MAX_RETRY_MS: "0",
        COMPUTE_TIMEOUT_MS: "300",
        REQUEST_ID_MEMORY_MS: "3000",
        WAIT_RETRY_INITIAL_MS: "500",
        WAIT_RETRY_MAX_MS: "1000",
      });
      const op = await t.client.createImage(imageRequest("late-insert"));
      const seen = await watch(t, op);
      expectSucceeded(seen.at(-1));
      expect(imageOf(t, "late-insert").map((i) => i.status)).toEqual(["READY"]);
      expect(insertsOf(t, op)).toBe(2);
      expect(messages(seen).join("\n")).toMatch(
        /insert attempt 1 got no definite answer \(timeout\); the retry window is over, so asking Compute again .* with the same request id/,
      );
    } finally {
      await t.close();
    }
  });

  it("1b. past Compute's requestId memory, waits out the settle period for the image of an insert that landed late, and follows it", async () => {
    const t = await start();
    try {
      t.stack.emulator.admin.addFault({
        route: "images.insert",
        effect: "latency",
        latencyMs: 1500,
        count: 1,
      });
      await t.startWorker({
        JOB_MAX_RETRY_MS: "0",
        COMPUTE_TIMEOUT_MS: "300",
        REQUEST_ID_MEMORY_MS: "0",
        INSERT_SETTLE_MS: "4000",
        NOT_FOUND_GRACE_MS: "500",
      });
      const op = await t.client.createImage(imageRequest("settled-late"));
      const seen = await watch(t, op);
      expectSucceeded(seen.at(-1));
      expect(imageOf(t, "settled-late")).toHaveLength(1);
      expect(insertsOf(t, op)).toBe(1);
      // While the image was not there, the operation stayed PENDING and said why.
      const uncertain = seen.filter((v) => /may still take effect/.test(v.statusMessage));
      expect(uncertain.length).toBeGreaterThan(0);
      for (const v of uncertain) expect(v.status).toBe(Operation_Status.PENDING);
    } finally {
      await t.close();
    }
  });

  it("1c. rejects an insert that never reached Compute only after the settle period, saying so", async () => {
    const t = await start();
    try {
      t.stack.emulator.admin.addFault({ route: "images.insert", effect: "reset", count: 1 });
      await t.startWorker({
        JOB_MAX_RETRY_MS: "0",
        REQUEST_ID_MEMORY_MS: "0",
        INSERT_SETTLE_MS: "1500",
        NOT_FOUND_GRACE_MS: "300",
      });
      const started = Date.now();
      const op = await t.client.createImage(imageRequest("never-landed"));
      const seen = await watch(t, op);
      const done = seen.at(-1);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
      expect(done?.status).toBe(Operation_Status.DONE);
      expect(done?.error?.errors[0]?.message).toMatch(
        /^gave up after 1 attempts .*; Compute showed no image of this request \d+ s after the last attempt without an answer$/,
      );
      expect(imageOf(t, "never-landed")).toEqual([]);
      expect(insertsOf(t, op)).toBe(1);
    } finally {
      await t.close();
    }
  });

  it("1d. a worker that lost its lock mid-insert cannot make the re-run conclude falsely: the re-run waits for the zombie's insert and follows its image", async () => {
    const t = await start();
    /** A stopped process cannot be stopped: thaw it first, whatever failed. */
    let thaw = () => true;
    try {
      // The insert takes 12 s at Compute; the worker sending it is frozen meanwhile (a long
      // pause, a partition), so its lock expires and another worker re-runs the job well before
      // the insert lands, however slow the machine.
      t.stack.emulator.admin.addFault({
        route: "images.insert",
        effect: "latency",
        latencyMs: 12_000,
        count: 1,
      });
      const env = {
        JOB_MAX_RETRY_MS: "0",
        COMPUTE_TIMEOUT_MS: "30000",
        REQUEST_ID_MEMORY_MS: "0",
        INSERT_SETTLE_MS: "20000",
        NOT_FOUND_GRACE_MS: "300",
      };
      const zombie = await t.startWorker(env);
      thaw = () => zombie.child.kill("SIGCONT");
      const op = await t.client.createImage(imageRequest("zombie"));
      await until(() => insertsOf(t, op) >= 1, "the first insert");
      zombie.child.kill("SIGSTOP");
      await t.startWorker(env);
      const versions = watch(t, op);
      // The re-run has taken the job: only it looks at the image (the old code concluded here).
      await until(
        () => (t.stack.emulator.admin.state().calls["images.get"] ?? 0) >= 1,
        "the re-run looking at the image",
      );
      expect(imageOf(t, "zombie")).toEqual([]);
      // Thawed while its insert is still in flight, the first worker gives the job up on its own:
      // no lock renewal for too long. Its insert lands all the same.
      zombie.child.kill("SIGCONT");
      await until(
        () => zombie.lines.some((l) => /may have lost the job's lock/.test(String(l["msg"]))),
        "the zombie stopping",
      );
      const done = (await versions).at(-1);
      expectSucceeded(done);
      expect(imageOf(t, "zombie")).toHaveLength(1);
      expect(insertsOf(t, op)).toBe(1);
    } finally {
      thaw();
      await t.close();
    }
  });
});

describe("no single read ends an operation", () => {
  it("2a. one 404 on wait and one on images.get right after the insert do not end a live import", async () => {
    const t = await start();
    try {
      t.stack.emulator.admin.addFault({
        route: "globalOperations.wait",
        effect: "notFound",
        count: 1,
      });
      t.stack.emulator.admin.addFault({ route: "images.get", effect: "notFound", count: 1 });
      await t.startWorker({ NOT_FOUND_GRACE_MS: "2000", INSERT_SETTLE_MS: "2000" });
      const op = await t.client.createImage(imageRequest("not-visible-yet"));
      const seen = await watch(t, op);
      expectSucceeded(seen.at(-1));
      expect(imageOf(t, "not-visible-yet").map((i) => i.status)).toEqual(["READY"]);
      expect(messages(seen).join("\n")).toMatch(
        /answer 404 for 0 s; an accepted insert can take a while to become visible/,
      );
    } finally {
      await t.close();
    }
  });

  it("2b. an image that is really gone ends the operation, once the 404s have lasted the grace", async () => {
    const t = await start({ staticTokens: [TOKEN] });
    try {
      await t.startWorker({ NOT_FOUND_GRACE_MS: "800", INSERT_SETTLE_MS: "800" });
      const op = await t.client.createImage(imageRequest("deleted"));
      const versions = watch(t, op);
      await until(() => imageOf(t, "deleted").length === 1, "the image");
      const computeOp = t.stack.emulator.admin.state().operations[0]?.name ?? "";
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
    } finally {
      await t.close();
    }
  });
});

describe("every loop backs off and ends", () => {
  it("3. a 409 followed by a failing images.get backs off to its cap, stays PENDING saying why, and ends once Compute answers", async () => {
    const t = await start({ staticTokens: [TOKEN] });
    try {
      await foreignImage(t, "taken");
      t.stack.emulator.admin.addFault({ route: "images.get", effect: "error", status: 503 });
      await t.startWorker({ WAIT_RETRY_INITIAL_MS: "50", WAIT_RETRY_MAX_MS: "400" });
      const op = await t.client.createImage(imageRequest("taken"));
      await until(
        () => (t.stack.emulator.admin.state().calls["images.get"] ?? 0) >= 1,
        "the first image check",
      );
      const first = Date.now();
      const before = t.stack.emulator.admin.state().calls["images.get"] ?? 0;
      await new Promise((r) => setTimeout(r, 3000));
      const calls = (t.stack.emulator.admin.state().calls["images.get"] ?? 0) - before;
      const elapsed = Date.now() - first;
      // Backoff 25-50, 50-100, 100-200, then 200-400 ms at the cap: at most the ramp plus one
      // call per half cap. The old loop called every 25-50 ms: about 80 times.
      expect(calls).toBeLessThanOrEqual(4 + Math.ceil(elapsed / 200));
      const pending = await t.client.getOperation({ project: "my-project", operation: op.name });
      expect(pending.status).toBe(Operation_Status.PENDING);
      expect(pending.statusMessage).toMatch(
        /^checking image taken failed \(HTTP 503 backendError\); whether an insert took effect is not known yet; checking again in/,
      );
      t.stack.emulator.admin.clearFaults();
      const done = (await watch(t, op)).at(-1);
      expect(done?.status).toBe(Operation_Status.DONE);
      expect(done?.error?.errors[0]?.code).toBe("RESOURCE_ALREADY_EXISTS");
    } finally {
      await t.close();
    }
  });
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
