import { constants, gunzipSync } from "node:zlib";

/**
 * Reading the first member of a tar archive from its first bytes: the formats GNU tar writes
 * (`--format=gnu`, `--format=oldgnu`, with sparse members) and the ones Compute refuses
 * (POSIX ustar and pax), the member's name and its real size.
 */

export const BLOCK = 512;

/**
 * The start of a gzip stream, decompressed: at most `max` bytes, or what the first 4 KiB give
 * when the head inflates past that (so a crafted stream cannot exhaust memory). Throws zlib's
 * error for a stream that is not valid gzip.
 */
export function inflateHead(head: Uint8Array, max: number): Uint8Array {
  try {
    return gunzipSync(head, { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: max });
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    return gunzipSync(head.subarray(0, 4096), { finishFlush: constants.Z_SYNC_FLUSH });
  }
}

/** What the magic and type flags say. Compute takes only GNU and OLDGNU. */
export type TarFormat = "gnu" | "posix" | "pax" | "v7";

/** One region of a sparse member that holds data: `offset` in the file, `length` bytes. */
export interface SparseRegion {
  readonly offset: number;
  readonly length: number;
}

export interface TarMember {
  readonly format: TarFormat;
  readonly name: string;
  /** The file's size as extracted (for a sparse member, its real size, holes included). */
  readonly size: number;
  /** The member's data regions; one region [0, size) for a regular file. */
  readonly regions: readonly SparseRegion[];
  /** Where the member's data starts in the archive. */
  readonly dataOffset: number;
}

export class TarError extends Error {
  override readonly name = "TarError";
}

const text = (block: Uint8Array, at: number, length: number): string => {
  const bytes = block.subarray(at, at + length);
  const end = bytes.indexOf(0);
  return Buffer.from(end === -1 ? bytes : bytes.subarray(0, end)).toString("utf8");
};

/**
 * A numeric field: octal ASCII, or GNU's base-256 (first byte's high bit set, then big-endian
 * binary), which GNU tar uses for sizes of 8 GiB and more.
 */
export function numeric(block: Uint8Array, at: number, length: number): number {
  const first = block[at] ?? 0;
  if ((first & 0x80) !== 0) {
    if ((first & 0x40) !== 0) throw new TarError("a negative base-256 number");
    let value = first & 0x3f;
    for (let i = 1; i < length; i++) value = value * 256 + (block[at + i] ?? 0);
    return value;
  }
  const digits = text(block, at, length).trim();
  if (digits === "") return 0;
  if (!/^[0-7]+$/.test(digits))
    throw new TarError(`the number field ${JSON.stringify(digits)} is not octal`);
  return parseInt(digits, 8);
}

/** Whether the header's checksum matches: the sum of its bytes, the checksum field read as spaces. */
function checksumMatches(block: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : (block[i] ?? 0);
  return numeric(block, 148, 8) === sum;
}

function formatOf(block: Uint8Array): TarFormat {
  const magic = Buffer.from(block.subarray(257, 265)).toString("latin1");
  if (magic === "ustar  \0") return "gnu";
  if (magic.startsWith("ustar\0")) return "posix";
  return "v7";
}

/**
 * The first member of the archive whose first bytes are `archive` (decompressed). GNU long-name
 * records (`L`) are followed to the member they name; a pax header (`x`, `g`) makes the format
 * pax. Throws TarError when the bytes are not a tar archive at all.
 */
export function firstMember(archive: Uint8Array): TarMember {
  let at = 0;
  let longName: string | undefined;
  let pax = false;
  for (let records = 0; records < 8; records++) {
    const block = archive.subarray(at, at + BLOCK);
    if (block.length < BLOCK) throw new TarError("the archive ends before its first header");
    if (block.every((b) => b === 0)) throw new TarError("the archive is empty");
    if (!checksumMatches(block)) throw new TarError("the first 512 bytes are not a tar header");
    const type = String.fromCharCode(block[156] ?? 0);
    const size = numeric(block, 124, 12);
    const data = at + BLOCK;
    if (type === "L") {
      longName = text(archive, data, size);
      at = data + Math.ceil(size / BLOCK) * BLOCK;
      continue;
    }
    if (type === "x" || type === "g") {
      pax = true;
      at = data + Math.ceil(size / BLOCK) * BLOCK;
      continue;
    }
    const format: TarFormat = pax ? "pax" : formatOf(block);
    const prefix = format === "posix" ? text(block, 345, 155) : "";
    const name =
      longName ?? (prefix === "" ? text(block, 0, 100) : `${prefix}/${text(block, 0, 100)}`);
    if (type !== "S")
      return { format, name, size, regions: [{ offset: 0, length: size }], dataOffset: data };
    return sparseMember(archive, block, at, format, name);
  }
  throw new TarError("no member header within the first records");
}

/** An old GNU sparse member (`S`): its map in the header (and extension blocks), its real size. */
function sparseMember(
  archive: Uint8Array,
  header: Uint8Array,
  at: number,
  format: TarFormat,
  name: string,
): TarMember {
  const regions: SparseRegion[] = [];
  const read = (block: Uint8Array, from: number, count: number) => {
    for (let i = 0; i < count; i++) {
      const offset = numeric(block, from + i * 24, 12);
      const length = numeric(block, from + i * 24 + 12, 12);
      if (offset === 0 && length === 0 && i > 0) break;
      if (length > 0 || regions.length === 0) regions.push({ offset, length });
    }
  };
  read(header, 386, 4);
  let extended = header[482] === 1;
  let next = at + BLOCK;
  while (extended) {
    const block = archive.subarray(next, next + BLOCK);
    if (block.length < BLOCK) throw new TarError("the archive ends inside a sparse map");
    read(block, 0, 21);
    extended = block[504] === 1;
    next += BLOCK;
  }
  return { format, name, size: numeric(header, 483, 12), regions, dataOffset: next };
}

/**
 * `length` bytes of the member's file from `offset`, as extracted: holes read as zeros. Bytes
 * past what `archive` holds are missing; returns undefined then.
 */
export function readMember(
  archive: Uint8Array,
  member: TarMember,
  offset: number,
  length: number,
): Uint8Array | undefined {
  const out = new Uint8Array(length);
  let stored = 0;
  for (const region of member.regions) {
    const from = Math.max(offset, region.offset);
    const to = Math.min(offset + length, region.offset + region.length);
    if (from < to) {
      const start = member.dataOffset + stored + (from - region.offset);
      if (start + (to - from) > archive.length) return undefined;
      out.set(archive.subarray(start, start + (to - from)), from - offset);
    }
    stored += region.length;
  }
  return out;
}
