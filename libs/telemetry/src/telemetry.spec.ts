import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createMetrics, REDACTED_PATHS } from "./index";

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

describe("log redaction", () => {
  it("blanks tokens and keys wherever they appear", () => {
    let out = "";
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        out += chunk.toString();
        done();
      },
    });
    const log = pino({ redact: { paths: REDACTED_PATHS, censor: "[redacted]" } }, sink);
    log.info(
      {
        headers: { authorization: "Bearer s3cret-token" },
        token: "t0k",
        image: { imageEncryptionKey: { rawKey: "a2V5" } },
        access_token: "ya29.x",
      },
      "call",
    );
    expect(out).not.toMatch(/s3cret-token|t0k|a2V5|ya29/);
    expect(out).toContain("[redacted]");
  });
});
