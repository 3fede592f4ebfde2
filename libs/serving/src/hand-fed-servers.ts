import type { Server as Http1Server } from "node:http";
import {
  createServer as createH2cServer,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from "node:http2";
import type { NodeHandler } from "./node-handler";

/**
 * The two places where the edge emits a Node server's own event by hand. Its HTTP/1.1 server and
 * connect-node's HTTP/2 compatibility server never listen: `listen` owns the one port and hands
 * them what they serve. Handing them connections is documented (`emit("connection", socket)`,
 * "can also be explicitly emitted by users to inject connections", for http and http2 alike);
 * what follows is not, and hand-fed-servers.spec.ts fails if a Node release changes it.
 */

/**
 * Starts an HTTP/1.1 server's connection tracking on a server that never listens. Node's
 * `http.Server` builds its connection list, and the timer that enforces `headersTimeout` and
 * `requestTimeout` (every `connectionsCheckingInterval`), in `setupConnectionsTracking`, which
 * it runs only from its own "listening" event (lib/_http_server.js); without that list a
 * slow-header client is never timed out and `closeIdleConnections()` does nothing. So the event
 * is emitted once, here: its only listener is that function.
 */
export function startConnectionTracking(server: Http1Server): void {
  server.emit("listening");
}

/** Serves one HTTP/2 stream, as an HTTP/2 server's "stream" event would. */
export type StreamListener = (
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  flags: number,
  rawHeaders: string[],
) => void;

/**
 * Serves HTTP/2 streams through Node's compatibility API, as `(req, res)` to `handler`, whatever
 * server their session belongs to. Node's http2 `Server` gets a "stream" listener of its own
 * (`onServerStream`, lib/internal/http2/compat.js) when a "request" listener is added, and that
 * listener needs nothing but the stream and the server's "request" listeners. The stream is
 * emitted on a second server, one that never listens: the server that owns the sessions has no
 * "request" listener, so the streams the gRPC path takes never get a compat request and response
 * (which would read the stream and send trailers of their own).
 */
export function compatStreamListener(handler: NodeHandler): StreamListener {
  const compat = createH2cServer(handler);
  return (stream, headers, flags, rawHeaders) => {
    compat.emit("stream", stream, headers, flags, rawHeaders);
  };
}
