import { createServer } from "node:http";
import type { Socket } from "node:net";
import { startConnectionTracking } from "./hand-fed-servers";
import type { NodeHandler } from "./node-handler";

/** HTTP/1.1 connections, handed over by the connection router. */
export interface Http1Side {
  /** Serves one connection (its first bytes were not the HTTP/2 preface). */
  readonly accept: (socket: Socket) => void;
  /** Closes each keep-alive connection with no request in flight: HTTP/1.1 has no GOAWAY. */
  readonly closeIdleConnections: () => void;
}

/**
 * Connect and gRPC-Web over HTTP/1.1 (plain curl), on connections the router hands over: a
 * request's whole header must arrive within `headerTimeoutMs`, and an idle keep-alive connection
 * is closed after `idleTimeoutMs` (at most 65 s, Node's own bound for keep-alive).
 */
export function createHttp1Side(
  handler: NodeHandler,
  options: {
    /** A request's whole header must arrive within this long, in ms, or it is answered 408. */
    readonly headerTimeoutMs: number;
    /** A keep-alive connection with no request for this long, in ms (capped at 65 s), closes. */
    readonly idleTimeoutMs: number;
  },
): Http1Side {
  const server = createServer(
    // The header deadline is checked on this interval; Node's default (30 s) is too coarse.
    { connectionsCheckingInterval: Math.min(1000, options.headerTimeoutMs) },
    handler,
  );
  server.headersTimeout = options.headerTimeoutMs;
  server.keepAliveTimeout = Math.min(65_000, options.idleTimeoutMs);
  startConnectionTracking(server);
  return {
    accept: (socket) => server.emit("connection", socket),
    closeIdleConnections: () => {
      server.closeIdleConnections();
    },
  };
}
