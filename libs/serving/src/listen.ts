import type { AddressInfo, Socket } from "node:net";
import { createSocketServer, routeByFirstBytes } from "./connections";
import type { StreamTaker } from "./grpc/grpc-path";
import { createHttp1Side } from "./http1-server";
import { createHttp2Side } from "./http2-streams";
import type { NodeHandler } from "./node-handler";

/** Where to listen and the bounds every connection is held to; resolved once by `listen`. */
export interface ListenOptions {
  /** TCP port; 0 picks a free one. */
  readonly port: number;
  /** The interface to listen on, e.g. "0.0.0.0". */
  readonly host: string;
  /** PEM key and certificate: serve TLS, with HTTP/2 and HTTP/1.1 chosen by ALPN. Default: cleartext. */
  readonly tls?: { readonly key: string | Buffer; readonly cert: string | Buffer };
  /**
   * A connection must have sent its first bytes (and, over HTTP/1.1, a request's whole header)
   * within this long, or it is closed: slow-header clients cannot hold sockets (HEADER_TIMEOUT_MS).
   */
  readonly headerTimeoutMs: number;
  /**
   * An HTTP/2 connection with no open stream for this long is closed with GOAWAY, and an idle
   * HTTP/1.1 keep-alive connection likewise. A connection with a stream open (a Watch waiting on
   * an hour-long import) is never idle (IDLE_TIMEOUT_MS).
   */
  readonly idleTimeoutMs: number;
  /**
   * Offered each new HTTP/2 stream first (the gRPC path, `createGrpcPath`); a stream it declines
   * goes to `handler` through Node's compatibility API. Default: every stream goes to `handler`.
   */
  readonly takeStream?: StreamTaker;
}

/** A port being served, until `close()`. */
export interface Listening {
  /** `http://` or `https://`, the address and the port: what a client dials. */
  readonly url: string;
  readonly port: number;
  /**
   * Drains: stops accepting, sends HTTP/2 GOAWAY so clients open no new stream here, lets the
   * requests in flight finish, and closes each connection once it has none; after `graceMs`
   * (default 5000), destroys whatever is left.
   */
  close(graceMs?: number): Promise<void>;
}

/**
 * Serves `handler` on one port over HTTP/2 (gRPC, Connect, gRPC-Web) and HTTP/1.1 (Connect and
 * gRPC-Web, e.g. plain curl), in cleartext or TLS. Each connection's first bytes say which
 * (connections.ts); HTTP/2 streams are offered to `takeStream` before `handler`
 * (http2-streams.ts); HTTP/1.1 goes to Node's HTTP/1.1 server (http1-server.ts).
 */
export async function listen(handler: NodeHandler, options: ListenOptions): Promise<Listening> {
  const { headerTimeoutMs, idleTimeoutMs } = options;
  const sockets = new Set<Socket>();
  const h2 = createHttp2Side({ handler, takeStream: options.takeStream, idleTimeoutMs });
  const h1 = createHttp1Side(handler, { headerTimeoutMs, idleTimeoutMs });
  const server = createSocketServer(
    { ...(options.tls && { tls: options.tls }), handshakeTimeoutMs: headerTimeoutMs },
    (socket) => {
      routeByFirstBytes(socket, headerTimeoutMs, h2.accept, h1.accept);
    },
  );
  server.on("connection", (socket: Socket) => {
    // No Nagle: an RPC's answer goes out in several small writes (headers, message, trailers).
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, resolve);
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `${options.tls === undefined ? "http" : "https"}://${host}:${address.port}`,
    port: address.port,
    async close(graceMs = 5000) {
      const closed = new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
      // GOAWAY: no new streams here; the streams in flight finish, then the session closes.
      h2.goaway();
      const deadline = Date.now() + graceMs;
      while (sockets.size > 0 && Date.now() < deadline) {
        // HTTP/1.1 has no GOAWAY: close each keep-alive connection as soon as it is idle.
        h1.closeIdleConnections();
        await new Promise((r) => setTimeout(r, 20));
      }
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
