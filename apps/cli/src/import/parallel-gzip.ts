// One standard gzip stream, compressed on every core. The input is cut into blocks; each block is
// deflated on libuv's thread pool with the 32 KiB before it as its dictionary and ended with a
// sync flush, so the blocks join into one deflate stream, as pigz makes it. A block that does not
// compress (most of a disk's data that is already compressed or encrypted) is stored instead, as
// it is (deflate's stored blocks, a copy). The same input makes the same bytes, however it arrives.
import { availableParallelism } from "node:os";
import { promisify } from "node:util";
import { constants, crc32, deflateRaw, type ZlibOptions } from "node:zlib";

const deflate = promisify<Buffer, ZlibOptions, Buffer>(deflateRaw);

/** Blocks of 1 MiB: few enough joins, and enough blocks to keep every core busy. */
export const BLOCK_BYTES = 1 << 20;
/** Room for a block's deflate output and its sync flush, even one that grew a little. */
const OUTPUT_BYTES = BLOCK_BYTES + (64 << 10);
/** Deflate's window: the dictionary each block gets from the one before. */
const WINDOW_BYTES = 32 << 10;
/** How much of a block is tried first, at level 1, to see whether it compresses. */
const SAMPLE_BYTES = 8 << 10;
/** The most a stored block holds (its length is 16 bits). */
const STORED_MAX = 65_535;
/** A sample that shrinks less than this (to more than 97% of itself) marks its block stored. */
const STORED_ABOVE = 0.97;
/** gzip's header: deflate, no name, no time (as `gzip -n`), no extra flags, Unix. */
const HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
/** An empty final block: ends the deflate stream the sync-flushed blocks make. */
const LAST_BLOCK = Buffer.from([3, 0]);

/** Deflate's level for the blocks that compress: gzip's and pigz's default. */
const LEVEL = 6;

/**
 * Compresses `source` into one gzip stream: deflated at LEVEL for the blocks that compress,
 * stored for those that do not, `parallelism` blocks at a time (by default one per core and one
 * more, so that a core never waits for the next). The bytes do not depend on `parallelism`.
 */
export async function* parallelGzip(
  source: AsyncIterable<Buffer>,
  { parallelism = availableParallelism() + 1 }: { parallelism?: number } = {},
): AsyncGenerator<Buffer> {
  const inFlight: Promise<Buffer>[] = [];
  let crc = 0;
  let size = 0;
  let dictionary: Buffer = Buffer.alloc(0);

  const compress = async (block: Buffer, before: Buffer): Promise<Buffer> => {
    const sample = block.subarray(0, SAMPLE_BYTES);
    const tried = await deflate(sample, { level: 1 });
    if (tried.length > sample.length * STORED_ABOVE) return stored(block);
    return deflate(block, {
      level: LEVEL,
      // Room for the whole block in one go: zlib's default of 16 KiB would hand the output over
      // in pieces, each a callback and a copy.
      chunkSize: OUTPUT_BYTES,
      ...(before.length > 0 && { dictionary: before }),
      finishFlush: constants.Z_SYNC_FLUSH,
    });
  };
  const start = (block: Buffer) => {
    crc = crc32(block, crc);
    size += block.length;
    const compressed = compress(block, dictionary);
    // Awaited in order below; a failure seen first elsewhere (the source's) must not go unhandled.
    compressed.catch(() => undefined);
    inFlight.push(compressed);
    dictionary = block.subarray(Math.max(0, block.length - WINDOW_BYTES));
  };

  yield HEADER;
  for await (const block of blocksOf(source)) {
    start(block);
    if (inFlight.length >= parallelism) yield await (inFlight.shift() as Promise<Buffer>);
  }
  while (inFlight.length > 0) yield await (inFlight.shift() as Promise<Buffer>);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(size % 2 ** 32, 4);
  yield Buffer.concat([LAST_BLOCK, trailer]);
}

/**
 * `block` as deflate's stored blocks (RFC 1951, 3.2.4): after a sync flush the stream is at a
 * byte boundary, so each is a zero byte (not final, stored), its length and the length's one's
 * complement, then the bytes as they are. What zlib's level 0 makes, at the cost of one copy.
 */
function stored(block: Buffer): Buffer {
  const pieces = Math.max(1, Math.ceil(block.length / STORED_MAX));
  const out = Buffer.allocUnsafe(block.length + 5 * pieces);
  let at = 0;
  for (let from = 0; from < block.length || at === 0; from += STORED_MAX) {
    const length = Math.min(STORED_MAX, block.length - from);
    out[at] = 0;
    out.writeUInt16LE(length, at + 1);
    out.writeUInt16LE(~length & 0xffff, at + 3);
    block.copy(out, at + 5, from, from + length);
    at += 5 + length;
  }
  return out;
}

/** `source` re-cut into blocks of BLOCK_BYTES (the last one shorter), whatever its chunks. */
async function* blocksOf(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const chunk of source) {
    let rest = chunk;
    while (pendingBytes + rest.length >= BLOCK_BYTES) {
      const take = BLOCK_BYTES - pendingBytes;
      pending.push(rest.subarray(0, take));
      yield Buffer.concat(pending, BLOCK_BYTES);
      rest = rest.subarray(take);
      pending = [];
      pendingBytes = 0;
    }
    if (rest.length > 0) {
      // A copy: the source may reuse its chunk's memory once given the next.
      pending.push(Buffer.from(rest));
      pendingBytes += rest.length;
    }
  }
  if (pendingBytes > 0) yield Buffer.concat(pending, pendingBytes);
}
