import { Code, ConnectError } from "@connectrpc/connect";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { frame } from "./codec";
import { EnvelopeReader } from "./envelope-reader";

/** An envelope as the codec writes one. */
const encode = (flags: number, data: Uint8Array): Buffer => frame(data, flags);

describe("EnvelopeReader", () => {
  it("reads the same messages whatever the chunking", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ flags: fc.integer({ min: 0, max: 1 }), data: fc.uint8Array() })),
        fc.array(fc.nat()),
        (messages, cuts) => {
          const body = Buffer.concat(messages.map((m) => encode(m.flags, m.data)));
          const points = [...new Set(cuts.map((c) => c % (body.length + 1)))].sort((a, b) => a - b);
          const reader = new EnvelopeReader(1 << 20);
          const read: { flags: number; data: number[] }[] = [];
          let last = 0;
          for (const p of [...points, body.length]) {
            for (const m of reader.push(body.subarray(last, p)))
              read.push({ flags: m.flags, data: [...m.data] });
            last = p;
          }
          expect(read).toEqual(messages.map((m) => ({ flags: m.flags, data: [...m.data] })));
          expect(reader.atBoundary).toBe(true);
        },
      ),
    );
  });

  it("refuses a message larger than the bound from its header alone", () => {
    const reader = new EnvelopeReader(10);
    const head = Buffer.from([0, 0, 0, 0, 11]);
    let error: unknown;
    try {
      reader.push(head);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.ResourceExhausted);
  });

  it("knows a body cut inside a message", () => {
    const reader = new EnvelopeReader(100);
    expect(reader.push(encode(0, new Uint8Array(8)).subarray(0, 7))).toEqual([]);
    expect(reader.atBoundary).toBe(false);
  });
});
