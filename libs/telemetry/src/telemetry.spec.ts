import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger, createMetrics } from "./index";

describe("createMetrics", () => {
  it("exposes the service's series in Prometheus text format", async () => {
    const m = createMetrics("test");
    m.rpcRequests.inc({ method: "CreateImage", code: "ok" });
    m.computeCalls.inc({ method: "images.insert", status: "503", reason: "backendError" });
    m.queueJobs.set({ state: "waiting" }, 3);
    const text = await m.registry.metrics();
    expect(text).toContain(
      'imagesvc_rpc_requests_total{method="CreateImage",code="ok",app="test"} 1',
    );
    expect(text).toContain(
      'imagesvc_compute_calls_total{method="images.insert",status="503",reason="backendError",app="test"} 1',
    );
    expect(text).toContain('imagesvc_queue_jobs{state="waiting",app="test"} 3');
    expect(text).toContain("process_cpu_user_seconds_total");
  });
});

describe("the longest GC pause", () => {
  it("is served by kind once the process has collected garbage", async () => {
    const m = createMetrics("gc");
    const series = async () =>
      /^imagesvc_gc_longest_pause_seconds\{kind="(minor|major|incremental|weakcb)",app="gc"\} \S+$/m.test(
        await m.registry.metrics(),
      );
    // Garbage until a collection has been observed (observers report on a later turn).
    for (let round = 0; round < 200 && !(await series()); round += 1) {
      let keep: unknown[] = [];
      for (let i = 0; i < 100_000; i += 1) keep.push({ i });
      keep = [];
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(await series()).toBe(true);
  });
});

describe("log redaction", () => {
  /** A logger writing to a string, and what it wrote, a line per entry. */
  const capture = () => {
    let out = "";
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        out += chunk.toString();
        done();
      },
    });
    const log = createLogger("test", "info", sink);
    return {
      log,
      lines: () =>
        out
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as Record<string, unknown>),
    };
  };

  it("blanks tokens and keys wherever they appear, down to two levels, arrays included", () => {
    const { log, lines } = capture();
    const fields = {
      headers: { authorization: "Bearer s3cret-token" },
      token: "t0k",
      image: { imageEncryptionKey: { rawKey: "a2V5" } },
      keys: [{ raw_key: "cmF3" }],
      access_token: "ya29.x",
      operation: "operation-1",
    };
    log.info(fields, "call");
    const [line] = lines();
    expect(JSON.stringify(line)).not.toMatch(/s3cret-token|t0k|a2V5|cmF3|ya29/);
    expect(line).toMatchObject({
      headers: { authorization: "[redacted]" },
      token: "[redacted]",
      image: { imageEncryptionKey: { rawKey: "[redacted]" } },
      keys: [{ raw_key: "[redacted]" }],
      operation: "operation-1",
    });
    // The caller's object is left as it was.
    expect(fields.headers.authorization).toBe("Bearer s3cret-token");
  });

  it("blanks secrets in a child's and a grandchild's bindings, nested ones too", () => {
    const { log, lines } = capture();
    log
      .child({ req: { headers: { authorization: "Bearer ch1ld" } } })
      .child({ token: "gr4ndchild", operation: "operation-2" })
      .info("deep");
    const [line] = lines();
    expect(JSON.stringify(line)).not.toMatch(/ch1ld|gr4ndchild/);
    expect(line).toMatchObject({
      req: { headers: { authorization: "[redacted]" } },
      token: "[redacted]",
      operation: "operation-2",
      msg: "deep",
    });
  });

  it("blanks an error's own secret fields, and keeps its message and stack", () => {
    const { log, lines } = capture();
    const e = Object.assign(new Error("refused"), {
      token: "t0k3n",
      config: { headers: { authorization: "Bearer ya29.err" } },
    });
    log.error({ err: e }, "call failed");
    const [line] = lines();
    expect(JSON.stringify(line)).not.toMatch(/t0k3n|ya29\.err/);
    expect(line).toMatchObject({
      err: {
        message: "refused",
        token: "[redacted]",
        config: { headers: { authorization: "[redacted]" } },
      },
    });
    expect(String((line?.["err"] as { stack?: string } | undefined)?.stack)).toContain("refused");
  });

  it("blanks a child logger's bindings, and leaves an error whole", () => {
    const { log, lines } = capture();
    log.child({ token: "ch1ld" }).error({ err: new Error("boom") }, "failed");
    const [line] = lines();
    expect(line).toMatchObject({ token: "[redacted]", err: { message: "boom", type: "Error" } });
    expect(JSON.stringify(line)).not.toContain("ch1ld");
    expect(String((line?.["err"] as { stack?: string } | undefined)?.stack)).toContain("boom");
  });
});
