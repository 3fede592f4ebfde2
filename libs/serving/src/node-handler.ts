import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";

/**
 * A Node request listener for HTTP/1.1 and HTTP/2 alike: connect-node's handler
 * (connect-handler.ts), with the probes and the console as its fallback.
 */
export type NodeHandler = (
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
) => void;
