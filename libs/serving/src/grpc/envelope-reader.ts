import { Code, ConnectError } from "@connectrpc/connect";

/** One gRPC length-prefixed message: its flags byte (bit 0: compressed) and its bytes. */
export interface Envelope {
  readonly flags: number;
  readonly data: Uint8Array;
}

const HEADER = 5;

/**
 * Splits a gRPC request body into its length-prefixed messages, whatever the chunking of the
 * HTTP/2 DATA frames. A message declared larger than `maxBytes` is refused as soon as its
 * 5-byte header arrives, before its bytes are buffered.
 */
export class EnvelopeReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** Takes the next chunk; returns the messages it completed (often none). */
  push(chunk: Buffer): Envelope[] {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const out: Envelope[] = [];
    while (this.pendingBytes >= HEADER) {
      const head = this.peek(HEADER);
      const length = head.readUInt32BE(1);
      if (length > this.maxBytes)
        throw new ConnectError(
          `message size ${length} is larger than configured readMaxBytes ${this.maxBytes}`,
          Code.ResourceExhausted,
        );
      if (this.pendingBytes < HEADER + length) break;
      const whole = this.take(HEADER + length);
      out.push({ flags: whole[0] ?? 0, data: whole.subarray(HEADER) });
    }
    return out;
  }

  /** True when the body ended between messages, not inside one. */
  get atBoundary(): boolean {
    return this.pendingBytes === 0;
  }

  private peek(n: number): Buffer {
    const first = this.pending[0];
    if (first !== undefined && first.length >= n) return first;
    const joined = Buffer.concat(this.pending);
    this.pending = [joined];
    return joined;
  }

  private take(n: number): Buffer {
    const all = this.peek(n);
    const rest = all.subarray(n);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes -= n;
    return all.subarray(0, n);
  }
}
