import {
  createServer as createHttp1Server,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import {
  createServer as createH2cServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from "node:http2";
import { createServer as createTlsServer } from "node:tls";
import {
  createServer as createTcpServer,
  type AddressInfo,
  type Server,
  type Socket,
} from "node:net";

export type NodeHandler = (
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
) => void;

export interface ListenOptions {
  readonly port: number;
  readonly host: string;
  /** PEM key and certificate: serve TLS, with HTTP/2 and HTTP/1.1 chosen by ALPN. Default: cleartext. */
  readonly tls?: { readonly key: string | Buffer; readonly cert: string | Buffer };
  /**
   * A connection must have sent its first bytes (and, over HTTP/1.1, a request's whole header)
   * within this long, or it is closed: slow-header clients cannot hold sockets. Default: 10000.
   */
  readonly headerTimeoutMs?: number;
  /**
   * An HTTP/2 connection with no open stream for this long is closed with GOAWAY, and an idle
   * HTTP/1.1 keep-alive connection likewise. A connection with a stream open (a Watch waiting on
   * an hour-long import) is never idle. Default: 120000.
   */
  readonly idleTimeoutMs?: number;
  /**
   * Offered each new HTTP/2 stream first (the gRPC path, grpc/grpc-path.ts); a stream it declines
   * goes to `handler` through Node's compatibility API. Default: every stream goes to `handler`.
   */
  readonly takeStream?: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => boolean;
}

export interface Listening {
  readonly url: string;
  readonly port: number;
  /**
   * Drains: stops accepting, sends HTTP/2 GOAWAY so clients open no new stream here, lets the
   * requests in flight finish, and closes each connection once it has none; after `graceMs`,
   * destroys whatever is left.
   */
  close(graceMs?: number): Promise<void>;
}

/** The client connection preface every HTTP/2 connection starts with (RFC 9113 §3.4). */
const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * Serves `handler` on one port over HTTP/2 (gRPC, Connect, gRPC-Web) and HTTP/1.1 (Connect and
 * gRPC-Web, e.g. plain curl). In cleartext, Node's HTTP/2 server does not take HTTP/1.1, so each
 * new connection's first bytes are read: the HTTP/2 preface goes to the HTTP/2 server, anything
 * else to the HTTP/1.1 server. The bytes are put back before either server sees the socket. With
 * TLS, the same is done on the decrypted socket.
 */
export async function listen(handler: NodeHandler, options: ListenOptions): Promise<Listening> {
  const headerTimeoutMs = options.headerTimeoutMs ?? 10_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 120_000;
  const sockets = new Set<Socket>();
  const sessions = new Set<ServerHttp2Session>();
  // The HTTP/2 server has no request listener of its own, so each stream is offered to
  // `takeStream` first; the rest are emitted on a second server that never listens, whose request
  // listener is `handler`: Node's compatibility layer turns them into (req, res) there.
  const compat = createH2cServer(handler);
  const h2 = createH2cServer();
  const take = options.takeStream;
  h2.on("stream", (stream, headers, flags, rawHeaders) => {
    if (take?.(stream, headers) !== true) compat.emit("stream", stream, headers, flags, rawHeaders);
  });
  h2.on("session", (session) => {
    watchSession(session, sessions, idleTimeoutMs);
  });
  const h1 = createHttp1Server(
    // The header deadline is checked on this interval; Node's default (30 s) is too coarse.
    { connectionsCheckingInterval: Math.min(1000, headerTimeoutMs) },
    handler,
  );
  h1.headersTimeout = headerTimeoutMs;
  h1.keepAliveTimeout = Math.min(65_000, idleTimeoutMs);
  // Node's HTTP/1.1 server tracks its connections (which enforces headersTimeout and lets
  // closeIdleConnections work) from its "listening" event. It never listens itself here, since
  // the router hands it connections, so it is told once that it is.
  h1.emit("listening");
  const toH2 = (s: Socket) => h2.emit("connection", s);
  const toH1 = (s: Socket) => h1.emit("connection", s);
  // With TLS, the decrypted socket goes through the same router: ALPN offers h2 and http/1.1,
  // and the first bytes tell which the client speaks (a client without ALPN speaks HTTP/1.1).
  const server: Server =
    options.tls === undefined
      ? createTcpServer((socket) => {
          route(socket, headerTimeoutMs, toH2, toH1);
        })
      : createTlsServer(
          {
            ...options.tls,
            ALPNProtocols: ["h2", "http/1.1"],
            handshakeTimeout: headerTimeoutMs,
          },
          (socket) => {
            route(socket, headerTimeoutMs, toH2, toH1);
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
      for (const session of sessions) session.close();
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

/**
 * Tracks an HTTP/2 session: closes it with GOAWAY after `idleMs` without an open stream, and
 * lets `close()` find it. Streams are counted, not activity: a Watch that waits quietly for an
 * hour-long import keeps its connection.
 */
function watchSession(
  session: ServerHttp2Session,
  sessions: Set<ServerHttp2Session>,
  idleMs: number,
): void {
  sessions.add(session);
  session.once("close", () => sessions.delete(session));
  let open = 0;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (open === 0) session.close();
    }, idleMs);
    timer.unref();
  };
  session.on("stream", (stream) => {
    open += 1;
    clearTimeout(timer);
    stream.once("close", () => {
      open -= 1;
      if (open === 0) arm();
    });
  });
  session.once("close", () => {
    clearTimeout(timer);
  });
  arm();
}

/**
 * Reads just enough of a new connection to tell HTTP/2 from HTTP/1.1, then hands it over. A
 * connection that has not said enough within `timeoutMs` is closed.
 */
function route(
  socket: Socket,
  timeoutMs: number,
  toH2: (s: Socket) => void,
  toH1: (s: Socket) => void,
): void {
  let head = Buffer.alloc(0);
  const silent = setTimeout(() => socket.destroy(), timeoutMs);
  silent.unref();
  socket.once("close", () => {
    clearTimeout(silent);
  });
  const onData = (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]);
    const n = Math.min(head.length, H2_PREFACE.length);
    const isH2 = head.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
    if (isH2 && head.length < H2_PREFACE.length) return; // a prefix of the preface: read more
    socket.off("data", onData);
    clearTimeout(silent);
    socket.pause();
    socket.unshift(head);
    if (isH2) {
      // The HTTP/2 session reads what is buffered itself (socket.read() on the next tick), so
      // the socket must stay paused: flowing, it would emit those bytes to no one.
      toH2(socket);
    } else {
      toH1(socket);
      socket.resume();
    }
  };
  socket.on("data", onData);
  socket.on("error", () => socket.destroy());
}
