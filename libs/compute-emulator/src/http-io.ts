import type { IncomingMessage, ServerResponse } from "node:http";
import { ComputeFault } from "./compute-error";

/** The largest request body the emulator reads; Compute's limits are far above any image body. */
const MAX_BODY_BYTES = 1 << 20;

export async function readBody(req: IncomingMessage): Promise<string> {
  return (await readBytes(req, MAX_BODY_BYTES)).toString("utf8");
}

/** The request body as bytes, refused with 413 past `max`. */
export async function readBytes(req: IncomingMessage, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max)
      throw new ComputeFault(413, "requestTooLarge", "Request payload size exceeds the limit.");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=UTF-8",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    "content-type": "text/plain; charset=UTF-8",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function sendFault(res: ServerResponse, fault: ComputeFault): void {
  const headers: Record<string, string> =
    fault.status === 401
      ? { "www-authenticate": 'Bearer realm="https://accounts.google.com/"' }
      : {};
  sendJson(res, fault.status, fault.toBody(), headers);
}

/** Drops the connection without an answer, as a network fault would. */
export function resetConnection(res: ServerResponse): void {
  res.socket?.resetAndDestroy();
}
