import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { gunzipSync } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BLOCK_BYTES, parallelGzip } from "./parallel-gzip";

/** `parallelGzip` of `chunks`, joined. */
async function gzipOf(chunks: Buffer[], parallelism?: number) {
  const out: Buffer[] = [];
  for await (const piece of parallelGzip(Readable.from(chunks), {
    ...(parallelism !== undefined && { parallelism }),
  }))
    out.push(piece);
  return Buffer.concat(out);
}

/** `data` cut at `cuts` (fractions of its length). */
const cut = (data: Buffer, cuts: number[]) => {
  const at = [...new Set(cuts.map((c) => Math.floor(c * data.length)))].sort((a, b) => a - b);
  return [0, ...at].map((from, i) => data.subarray(from, at[i] ?? data.length));
};

/** A disk-like mix: runs of random bytes, of text and of zeros. */
const diskLike = fc
  .array(
    fc.record({
      kind: fc.constantFrom("random", "text", "zeros"),
      bytes: fc.integer({ min: 0, max: BLOCK_BYTES + 4096 }),
    }),
    { maxLength: 5 },
  )
  .map((runs) =>
    Buffer.concat(
      runs.map(({ kind, bytes }) =>
        kind === "random"
          ? randomBytes(bytes)
          : kind === "zeros"
            ? Buffer.alloc(bytes)
            : Buffer.from(
                "the quick brown fox jumps over the lazy dog ".repeat(bytes / 44 + 1),
              ).subarray(0, bytes),
      ),
    ),
  );

describe("parallelGzip", () => {
  it("makes one gzip stream of the input, the same bytes however the input is cut", async () => {
    await fc.assert(
      fc.asyncProperty(
        diskLike,
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }),
        fc.integer({ min: 1, max: 4 }),
        async (data, cuts, parallelism) => {
          const whole = await gzipOf([data]);
          expect(gunzipSync(whole).equals(data)).toBe(true);
          const pieces = await gzipOf(cut(data, cuts), parallelism);
          expect(pieces.equals(whole)).toBe(true);
        },
      ),
      { numRuns: 25 },
    );
  });

  it("is read by gzip itself, and stores what does not compress", async () => {
    const random = randomBytes(3 * BLOCK_BYTES);
    const text = Buffer.from("disk.raw holds text that compresses well. ".repeat(80_000));
    const gz = await gzipOf([random, text]);
    const unzipped = execFileSync("gzip", ["-dc"], { input: gz, maxBuffer: 64 << 20 });
    expect(unzipped.equals(Buffer.concat([random, text]))).toBe(true);
    expect(execFileSync("gzip", ["-t"], { input: gz }).length).toBe(0);
    // Each random block is stored: its bytes stand in the stream as they are, after the 5 bytes of
    // a stored block's header (not final, type 00, then the length 65535 and its complement).
    for (let block = 0; block < 3; block++) {
      const piece = random.subarray(block * BLOCK_BYTES, block * BLOCK_BYTES + 65_535);
      const at = gz.indexOf(piece);
      expect(at, `block ${block}`).toBeGreaterThan(0);
      expect([...gz.subarray(at - 5, at)]).toEqual([0, 0xff, 0xff, 0, 0]);
    }
    // The text is deflated.
    expect(gz.length).toBeLessThan(random.length + 1024 + text.length / 20);
  });

  it("makes an empty gzip stream of nothing", async () => {
    expect(gunzipSync(await gzipOf([])).length).toBe(0);
  });
});
