// What a connection may hold, and how the gateway lets go of connections when it drains.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { healthV1, ImageService, type Operation } from "@imagesvc/proto";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { connect as connectHttp2 } from "node:http2";
import { connect as connectTcp } from "node:net";
import { pino } from "pino";
import { createMetrics } from "@imagesvc/telemetry";
import { describe, expect, it } from "vitest";
import { startGateway } from "@imagesvc/image-service";
import { imageRequest, startStack } from "./stack.test-helper";

/** Resolves with how the server ended the socket: "closed" once it does, or "open" after `ms`. */
async function closedWithin(socket: { once(e: "close", l: () => void): unknown }, ms: number) {
  return Promise.race([
    once(socket as never, "close").then(() => "closed"),
    new Promise((r) =>
      setTimeout(() => {
        r("open");
      }, ms),
    ),
  ]);
}

describe("connection bounds", () => {
  it("closes a connection that sends nothing, and an HTTP/1.1 request whose header never ends", async () => {
    const stack = await startStack({ gateway: { settings: { HEADER_TIMEOUT_MS: 300 } } });
    try {
      const { port } = stack.gateway;
      const silent = connectTcp(port, "127.0.0.1");
      silent.on("error", () => undefined);
      expect(await closedWithin(silent, 5000)).toBe("closed");

      const slow = connectTcp(port, "127.0.0.1");
      slow.on("error", () => undefined);
      // Read what the server says (its 408), or its end would never show on this side.
      const answer: Buffer[] = [];
      slow.on("data", (d: Buffer) => answer.push(d));
      await once(slow, "connect");
      slow.write("POST /computeimages.v1.ImageService/CreateImage HTTP/1.1\r\nHost: a\r\n");
      expect(await closedWithin(slow, 5000)).toBe("closed");
      expect(Buffer.concat(answer).toString()).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      await stack.close();
    }
  });

  it("closes an HTTP/2 connection with no stream after the idle bound, and keeps one with a quiet stream open", async () => {
    const stack = await startStack({ gateway: { settings: { IDLE_TIMEOUT_MS: 300 } } });
    try {
      const idle = connectHttp2(stack.gateway.url);
      idle.on("error", () => undefined);
      const idleGoaway = once(idle, "goaway");
      expect(await closedWithin(idle, 5000)).toBe("closed");
      await idleGoaway;

      // A health Watch that nothing changes: a quiet stream, like a Watch on an hour-long import.
      const busy = connectHttp2(stack.gateway.url);
      busy.on("error", () => undefined);
      const watch = busy.request({
        ":method": "POST",
        ":path": "/grpc.health.v1.Health/Watch",
        "content-type": "application/grpc",
        te: "trailers",
      });
      watch.on("error", () => undefined);
      watch.resume();
      watch.end(Buffer.from([0, 0, 0, 0, 0])); // an empty HealthCheckRequest, framed
      await once(watch, "response");
      expect(await closedWithin(busy, 1500)).toBe("open");
      watch.close();
      expect(await closedWithin(busy, 5000)).toBe("closed");
    } finally {
      await stack.close();
    }
  });

  it("caps grpc.health.v1 Watch streams like other streams", async () => {
    const stack = await startStack({ gateway: { settings: { MAX_HEALTH_WATCHES: 2 } } });
    try {
      const health = createClient(healthV1.Health, stack.transport("connect"));
      const controllers = [new AbortController(), new AbortController()];
      const open = controllers.map(async (c) => {
        const stream = health.watch({ service: "" }, { signal: c.signal });
        for await (const _ of stream) return;
      });
      await Promise.all(open);
      const third = await (async () => {
        for await (const _ of health.watch({ service: "" })) return "opened";
        return "ended";
      })().catch((e: unknown) => ConnectError.from(e));
      expect((third as ConnectError).code).toBe(Code.ResourceExhausted);
      for (const c of controllers) c.abort();
    } finally {
      await stack.close();
    }
  });
});

describe("drain", () => {
  it("sends GOAWAY and lets a CreateImage in flight finish; a retry with its request id elsewhere gets the same operation", async () => {
    const stack = await startStack();
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let reached: () => void = () => undefined;
    const inFlight = new Promise<void>((r) => {
      reached = r;
    });
    // A gateway whose CreateImage pauses in its raw disk pre-flight, as a slow Cloud Storage
    // would make it: the call is in flight when the drain begins.
    const draining = await startGateway({
      settings: stack.gatewaySettings(),
      log: pino({ level: "silent" }),
      metrics: createMetrics("gateway-drain-test"),
      rawDiskPreflight: async () => {
        reached();
        await held;
        return { ok: "unchecked" as const, reason: "held by the test" };
      },
    });
    try {
      const client = createClient(
        ImageService,
        createConnectTransport({ baseUrl: draining.url, httpVersion: "2" }),
      );
      const requestId = randomUUID();
      const call = client.createImage({ ...imageRequest("drained"), requestId });
      await inFlight;
      const closing = draining.close();
      await new Promise((r) => setTimeout(r, 100));
      // After GOAWAY the gateway takes no new call; the client sees a status it may retry.
      const refused = await createClient(
        ImageService,
        createConnectTransport({ baseUrl: draining.url, httpVersion: "2" }),
      )
        .createImage(imageRequest("late"))
        .catch((e: unknown) => ConnectError.from(e));
      expect((refused as ConnectError).code).toBe(Code.Unavailable);
      release();
      const op: Operation = await call;
      expect(op.name).toMatch(/^operation-/);
      await closing;
      // The caller retries elsewhere with the same request id: the same operation, no second one.
      const again = await stack.client.createImage({ ...imageRequest("drained"), requestId });
      expect(again.name).toBe(op.name);
    } finally {
      release();
      await stack.close();
    }
  });
});
