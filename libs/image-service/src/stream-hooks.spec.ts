import { Code, ConnectError } from "@connectrpc/connect";
import { createMetrics } from "@imagesvc/telemetry";
import { describe, expect, it } from "vitest";
import { rpcMetricsInterceptor } from "./rpc-metrics";
import { withStreamHooks } from "./stream-hooks";

async function* numbers(fail?: Error) {
  await Promise.resolve();
  yield 1;
  yield 2;
  if (fail) throw fail;
}

function hooked(source: AsyncIterable<number>) {
  const calls: string[] = [];
  const wrapped = withStreamHooks(source, {
    end: () => calls.push("end"),
    error: (e) => {
      calls.push("error");
      return new Error(`mapped: ${(e as Error).message}`);
    },
    cancel: () => calls.push("cancel"),
  });
  return { calls, it: wrapped[Symbol.asyncIterator]() };
}

describe("withStreamHooks", () => {
  it("calls end once when the messages run out, and not cancel on a later return", async () => {
    const { calls, it } = hooked(numbers());
    const seen: number[] = [];
    for (let r = await it.next(); r.done !== true; r = await it.next()) seen.push(r.value);
    await it.return?.();
    expect(seen).toEqual([1, 2]);
    expect(calls).toEqual(["end"]);
  });

  it("maps an error through the error hook", async () => {
    const { calls, it } = hooked(numbers(new Error("boom")));
    await it.next();
    await it.next();
    await expect(it.next()).rejects.toThrow("mapped: boom");
    await it.return?.();
    expect(calls).toEqual(["error"]);
  });

  it("calls cancel when the consumer stops early, and closes the source", async () => {
    let closed = false;
    const source = (async function* () {
      try {
        await Promise.resolve();
        yield 1;
        yield 2;
      } finally {
        closed = true;
      }
    })();
    const { calls, it } = hooked(source);
    await it.next();
    await it.return?.();
    await it.return?.();
    expect(calls).toEqual(["cancel"]);
    expect(closed).toBe(true);
  });
});

describe("rpcMetricsInterceptor on a stream", () => {
  const method = { name: "WatchOperation" };

  async function run(consume: (it: AsyncIterator<number>) => Promise<void>, fail?: Error) {
    const metrics = createMetrics("gateway-test");
    // Only what the interceptor reads: the method's name, and a stream response of messages.
    const next = () => Promise.resolve({ stream: true, message: numbers(fail) });
    const intercept = rpcMetricsInterceptor(metrics)(next as never);
    const res = await intercept({ method } as never);
    if (!res.stream) throw new Error("expected a stream response");
    const messages = res.message as AsyncIterable<unknown> as AsyncIterable<number>;
    await consume(messages[Symbol.asyncIterator]()).catch(() => undefined);
    const counted = await metrics.rpcRequests.get();
    return counted.values.map((v) => `${String(v.labels["code"])}=${String(v.value)}`);
  }

  it("counts a stream that ends as ok, once", async () => {
    expect(
      await run(async (it) => {
        while ((await it.next()).done !== true);
        await it.return?.();
      }),
    ).toEqual(["ok=1"]);
  });

  it("counts a stream that fails with its code", async () => {
    expect(
      await run(
        async (it) => {
          while ((await it.next()).done !== true);
        },
        new ConnectError("gone", Code.NotFound),
      ),
    ).toEqual(["NotFound=1"]);
  });

  it("counts a stream closed before it ended as Canceled", async () => {
    expect(
      await run(async (it) => {
        await it.next();
        await it.return?.();
      }),
    ).toEqual(["Canceled=1"]);
  });
});
