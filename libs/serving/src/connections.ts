import { createServer as createTcpServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";

// How a connection reaches its protocol: the server that owns the port takes it (TLS with ALPN,
// or cleartext), then its first bytes say whether it speaks HTTP/2 or HTTP/1.1.

/** How the port's own server accepts connections. */
export interface SocketServerOptions {
  /** PEM key and certificate: TLS, offering h2 and http/1.1 by ALPN. Default: cleartext. */
  readonly tls?: { readonly key: string | Buffer; readonly cert: string | Buffer };
  /** A TLS handshake must be done within this long, in ms, or the connection is closed. */
  readonly handshakeTimeoutMs: number;
}

/**
 * The server that owns the port: plain TCP, or TLS whose decrypted sockets are handed on the same
 * way. ALPN offers h2 and http/1.1, but what a connection speaks is still told by its first bytes
 * (`routeByFirstBytes`): a client without ALPN speaks HTTP/1.1.
 */
export function createSocketServer(
  options: SocketServerOptions,
  onSocket: (socket: Socket) => void,
): Server {
  return options.tls === undefined
    ? createTcpServer(onSocket)
    : createTlsServer(
        {
          ...options.tls,
          ALPNProtocols: ["h2", "http/1.1"],
          handshakeTimeout: options.handshakeTimeoutMs,
        },
        onSocket,
      );
}

/** The client connection preface every HTTP/2 connection starts with (RFC 9113 §3.4). */
const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * Reads just enough of a new connection to tell HTTP/2 from HTTP/1.1, then hands it over with
 * those bytes put back. Needed in cleartext, where Node's HTTP/2 server does not take HTTP/1.1,
 * and used inside TLS too, where a client without ALPN speaks HTTP/1.1. A connection that has
 * not said enough within `timeoutMs` is closed: silent clients cannot hold sockets.
 */
export function routeByFirstBytes(
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
