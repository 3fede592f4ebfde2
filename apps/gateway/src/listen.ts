import {
  createServer as createHttp1Server,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import {
  createServer as createH2cServer,
  createSecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
} from "node:http2";
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
}

export interface Listening {
  readonly url: string;
  readonly port: number;
  /** Stops accepting connections and ends every open one. */
  close(): Promise<void>;
}

/** The client connection preface every HTTP/2 connection starts with (RFC 9113 §3.4). */
const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * Serves `handler` on one port over HTTP/2 (gRPC, Connect, gRPC-Web) and HTTP/1.1 (Connect and
 * gRPC-Web, e.g. plain curl). In cleartext, Node's HTTP/2 server does not take HTTP/1.1, so each
 * new connection's first bytes are read: the HTTP/2 preface goes to the HTTP/2 server, anything
 * else to the HTTP/1.1 server. The bytes are put back before either server sees the socket. With
 * TLS, ALPN makes the same choice and Node's `allowHTTP1` does it.
 */
export async function listen(handler: NodeHandler, options: ListenOptions): Promise<Listening> {
  const sockets = new Set<Socket>();
  let server: Server;
  if (options.tls !== undefined) {
    server = createSecureServer({ ...options.tls, allowHTTP1: true }, handler);
  } else {
    const h2 = createH2cServer(handler);
    const h1 = createHttp1Server(handler);
    h1.keepAliveTimeout = 65_000;
    // No Nagle: an RPC's answer goes out in several small writes (headers, message, trailers).
    server = createTcpServer({ noDelay: true }, (socket) => {
      route(
        socket,
        (s) => h2.emit("connection", s),
        (s) => h1.emit("connection", s),
      );
    });
  }
  server.on("connection", (socket: Socket) => {
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
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        for (const socket of sockets) socket.destroy();
      }),
  };
}

/** Reads just enough of a new connection to tell HTTP/2 from HTTP/1.1, then hands it over. */
function route(socket: Socket, toH2: (s: Socket) => void, toH1: (s: Socket) => void): void {
  let head = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]);
    const n = Math.min(head.length, H2_PREFACE.length);
    const isH2 = head.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
    if (isH2 && head.length < H2_PREFACE.length) return; // a prefix of the preface: read more
    socket.off("data", onData);
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
