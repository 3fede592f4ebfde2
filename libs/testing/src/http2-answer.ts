import type { ClientHttp2Stream, IncomingHttpHeaders } from "node:http2";

/** What an HTTP/2 client stream received: its response headers, trailers and whole body. */
export interface Http2Answer {
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders;
  body: Buffer;
}

/** Reads `req` to its end; rejects on a stream error. Call before the request body is sent. */
export function readHttp2Answer(req: ClientHttp2Stream): Promise<Http2Answer> {
  return new Promise((resolve, reject) => {
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on("response", (h) => {
      headers = h;
    });
    req.on("trailers", (t: IncomingHttpHeaders) => {
      trailers = t;
    });
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      resolve({ headers, trailers, body: Buffer.concat(chunks) });
    });
    req.on("error", reject);
  });
}
