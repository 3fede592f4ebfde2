import { createServer, type ServerHttp2Session } from "node:http2";
import type { Socket } from "node:net";
import type { StreamTaker } from "./grpc/grpc-path";
import { compatStreamListener } from "./hand-fed-servers";
import type { NodeHandler } from "./node-handler";

/** HTTP/2 connections, handed over by the connection router. */
export interface Http2Side {
  /** Serves one connection (it began with the HTTP/2 preface). */
  readonly accept: (socket: Socket) => void;
  /** GOAWAY on every open session: no new streams; those in flight finish, then it closes. */
  readonly goaway: () => void;
}

/**
 * Where each HTTP/2 stream goes: offered first to `takeStream` (the gRPC path), and otherwise to
 * `handler` (connect-node) through Node's compatibility API. The server holding the sessions has
 * no request listener of its own, so a stream the gRPC path takes costs nothing more.
 */
export function createHttp2Side(options: {
  readonly handler: NodeHandler;
  /** Default: every stream goes to `handler`. */
  readonly takeStream?: StreamTaker | undefined;
  /** A session with no open stream for this long, in ms, is closed with GOAWAY. */
  readonly idleTimeoutMs: number;
}): Http2Side {
  const sessions = new Set<ServerHttp2Session>();
  const toHandler = compatStreamListener(options.handler);
  const take = options.takeStream;
  const server = createServer();
  server.on("stream", (stream, headers, flags, rawHeaders) => {
    if (take?.(stream, headers) !== true) toHandler(stream, headers, flags, rawHeaders);
  });
  server.on("session", (session) => {
    trackSession(session, sessions, options.idleTimeoutMs);
  });
  return {
    accept: (socket) => server.emit("connection", socket),
    goaway: () => {
      for (const session of sessions) session.close();
    },
  };
}

/**
 * Tracks an HTTP/2 session: adds it to `sessions` while it is open (so that a drain can send it
 * GOAWAY), and closes it with GOAWAY after `idleMs` without an open stream. Streams are counted,
 * not activity: a Watch that waits quietly for an hour-long import keeps its connection.
 */
function trackSession(
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
