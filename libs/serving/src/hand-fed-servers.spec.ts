// What the edge relies on when it feeds Node servers that never listen (hand-fed-servers.ts).
// These fail if a Node release changes it: read the comments there before changing the code.
import { once } from "node:events";
import { createServer as createHttp1Server } from "node:http";
import { connect, createServer as createH2cServer } from "node:http2";
import {
  connect as connectTcp,
  createServer as createTcpServer,
  type Server,
  type Socket,
} from "node:net";
import { readHttp2Answer } from "@imagesvc/testing";
import { afterEach, describe, expect, it } from "vitest";
import { compatStreamListener, startConnectionTracking } from "./hand-fed-servers";

const servers: Server[] = [];

afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise((resolve) => {
          s.close(resolve);
        }),
    ),
  );
});

/** A TCP port whose connections `accept` takes, as `listen` hands them over. */
async function portFeeding(accept: (socket: Socket) => void): Promise<number> {
  const server = createTcpServer(accept);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** A TCP connection to `port` once it is connected; what the server sends collects in `answer`. */
async function connected(port: number): Promise<{ socket: Socket; answer: Buffer[] }> {
  const socket = connectTcp(port, "127.0.0.1");
  socket.on("error", () => undefined);
  const answer: Buffer[] = [];
  socket.on("data", (d: Buffer) => answer.push(d));
  await once(socket, "connect");
  return { socket, answer };
}

/** "closed" once the socket closes, or "open" after `ms`. */
function closedWithin(socket: Socket, ms: number): Promise<string> {
  return Promise.race([
    once(socket, "close").then(() => "closed"),
    new Promise<string>((r) => {
      setTimeout(() => {
        r("open");
      }, ms).unref();
    }),
  ]);
}

describe("startConnectionTracking", () => {
  it("makes an HTTP/1.1 server that never listens time out a request whose header never ends", async () => {
    const h1 = createHttp1Server({ connectionsCheckingInterval: 100 }, (_req, res) => res.end());
    h1.headersTimeout = 300;
    startConnectionTracking(h1);
    const port = await portFeeding((socket) => h1.emit("connection", socket));
    const { socket: slow, answer } = await connected(port);
    slow.write("GET / HTTP/1.1\r\nHost: a\r\n");
    expect(await closedWithin(slow, 4000)).toBe("closed");
    expect(Buffer.concat(answer).toString()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("lets closeIdleConnections close the idle keep-alive connections of a server that never listens", async () => {
    const h1 = createHttp1Server((_req, res) => res.end("ok"));
    h1.keepAliveTimeout = 60_000;
    startConnectionTracking(h1);
    const port = await portFeeding((socket) => h1.emit("connection", socket));
    const { socket: client } = await connected(port);
    client.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    await once(client, "data");
    expect(await closedWithin(client, 200)).toBe("open");
    h1.closeIdleConnections();
    expect(await closedWithin(client, 4000)).toBe("closed");
  });
});

describe("compatStreamListener", () => {
  it("serves a stream of a server with no request listener as (req, res), trailers included", async () => {
    const toHandler = compatStreamListener((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        res.setHeader("content-type", "text/plain");
        res.addTrailers({ "x-trailer": "t" });
        res.end(`${req.method ?? ""} ${req.url ?? ""} ${Buffer.concat(chunks).toString()}`);
      });
    });
    const h2 = createH2cServer();
    expect(h2.listenerCount("request")).toBe(0);
    h2.on("stream", toHandler);
    const port = await portFeeding((socket) => h2.emit("connection", socket));
    const session = connect(`http://127.0.0.1:${port}`);
    try {
      const req = session.request({ ":method": "POST", ":path": "/echo" });
      const answer = readHttp2Answer(req);
      req.end("body");
      const { headers, trailers, body } = await answer;
      expect(headers[":status"]).toBe(200);
      expect(headers["content-type"]).toBe("text/plain");
      expect(body.toString()).toBe("POST /echo body");
      expect(trailers["x-trailer"]).toBe("t");
    } finally {
      session.destroy();
    }
  });
});
