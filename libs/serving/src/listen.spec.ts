// One port, two protocols, over real sockets on port 0. TLS, the gateway's connection bounds
// and its drain are exercised end to end by apps/gateway's e2e/serving and e2e/connections.
import { once } from "node:events";
import { get as http1Get } from "node:http";
import { connect } from "node:http2";
import { connect as connectTcp } from "node:net";
import { describe, expect, it } from "vitest";
import { listen } from "./listen";
import type { NodeHandler } from "./node-handler";

/** The connection bounds of these servers: long enough never to bite. */
const BOUNDS = { headerTimeoutMs: 10_000, idleTimeoutMs: 120_000 };

/** Answers with the HTTP version the request came in, after `?wait=ms` if asked. */
const versionOf: NodeHandler = (req, res) => {
  const wait = Number(new URL(req.url ?? "/", "http://x").searchParams.get("wait") ?? 0);
  setTimeout(() => {
    res.end(req.httpVersion);
  }, wait);
};

function getHttp2(url: string, path = "/"): Promise<{ body: string; goaway: boolean }> {
  const session = connect(url);
  session.on("error", () => undefined);
  let goaway = false;
  session.once("goaway", () => {
    goaway = true;
  });
  return new Promise((resolve, reject) => {
    const req = session.request({ ":path": path });
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      session.close();
      resolve({ body: Buffer.concat(chunks).toString(), goaway });
    });
    req.on("error", reject);
    req.end();
  });
}

function getHttp1(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http1Get(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        resolve(Buffer.concat(chunks).toString());
      });
    }).on("error", reject);
  });
}

describe("listen", () => {
  it("serves HTTP/2 and HTTP/1.1 on one port, told apart by each connection's first bytes", async () => {
    const listening = await listen(versionOf, { port: 0, host: "127.0.0.1", ...BOUNDS });
    try {
      expect((await getHttp2(listening.url)).body).toBe("2.0");
      expect(await getHttp1(listening.url)).toBe("1.1");
    } finally {
      await listening.close(100);
    }
  });

  it("closes a connection that sends nothing within the header timeout", async () => {
    const listening = await listen(versionOf, {
      port: 0,
      host: "127.0.0.1",
      ...BOUNDS,
      headerTimeoutMs: 200,
    });
    try {
      const silent = connectTcp(listening.port, "127.0.0.1");
      silent.on("error", () => undefined);
      const closed = await Promise.race([
        once(silent, "close").then(() => "closed"),
        new Promise((r) => {
          setTimeout(() => {
            r("open");
          }, 4000).unref();
        }),
      ]);
      expect(closed).toBe("closed");
    } finally {
      await listening.close(100);
    }
  });

  it("drains: sends GOAWAY and lets an HTTP/2 request in flight finish", async () => {
    const listening = await listen(versionOf, { port: 0, host: "127.0.0.1", ...BOUNDS });
    const inFlight = getHttp2(listening.url, "/?wait=300");
    await new Promise((r) => setTimeout(r, 100));
    await listening.close(4000);
    expect(await inFlight).toEqual({ body: "2.0", goaway: true });
  });
});
