import { firstMember, inflateHead, TarError } from "@imagesvc/preflight/tar";
import { gzipSync } from "node:zlib";

const GIB = 1024 ** 3;
const BLOCK = 512;
/** The size of disk.raw in the archive an object never uploaded reads as. */
export const VIRTUAL_DISK_GIB = 10;
/** How much of an object the import reads: the gzip stream's start holds the tar header. */
export const IMPORT_HEAD_BYTES = 1 << 20;

/** How an import of a raw disk archive ends, as Compute reports it on the operation. */
export type ImportOutcome =
  | { readonly ok: true; readonly archiveSizeBytes: number; readonly diskSizeGb: number }
  | {
      readonly ok: false;
      readonly code: string;
      readonly message: string;
      readonly httpStatus: number;
    };

const invalid = (message: string, code = "INVALID_IMAGE_TAR"): ImportOutcome => ({
  ok: false,
  code,
  message,
  httpStatus: 400,
});

/**
 * Opens a raw disk archive as Compute's import does: a gzip stream holding a GNU or OLDGNU tar
 * whose member is `disk.raw`, a whole number of GB. `head` is the object's first bytes (as
 * Compute would receive them: decompressed already if Cloud Storage transcodes it), `size` its
 * stored size. The messages in quotes in the README are Compute's own.
 */
export function openRawDiskArchive(head: Buffer, size: number): ImportOutcome {
  if (head.length < 2 || head[0] !== 0x1f || head[1] !== 0x8b)
    return invalid("The tar archive is not a valid image.");
  let tar: Uint8Array;
  try {
    tar = inflateHead(head, IMPORT_HEAD_BYTES);
  } catch {
    return invalid("The tar archive is not a valid image.");
  }
  let member;
  try {
    member = firstMember(tar);
  } catch (e) {
    if (e instanceof TarError) return invalid("The tar archive is not a valid image.");
    throw e;
  }
  if (member.format !== "gnu")
    return invalid(
      "The tar archive format is not supported. Supported formats are: GNU and OLDGNU",
    );
  if (member.name !== "disk.raw")
    return invalid(
      `The tar archive contained a file that was named '${member.name}'. It should be named 'disk.raw'.`,
    );
  if (member.size === 0 || member.size % GIB !== 0)
    return invalid(
      `The disk image size must be a whole number of GB; disk.raw is ${member.size} bytes.`,
      "INVALID_IMAGE_SIZE",
    );
  return { ok: true, archiveSizeBytes: size, diskSizeGb: member.size / GIB };
}

let virtual: Buffer | undefined;

/**
 * What an object that was never uploaded reads as: a valid archive, as Compute wants it (GNU
 * tar, OLDGNU format, sparse), of a VIRTUAL_DISK_GIB GiB `disk.raw` whose only data is an MBR.
 * A few hundred bytes, made once.
 */
export function virtualArchive(): Buffer {
  if (virtual !== undefined) return virtual;
  const header = Buffer.alloc(BLOCK);
  header.write("disk.raw", 0);
  header.write("0000644\0", 100);
  header.write("0000000\0", 108);
  header.write("0000000\0", 116);
  header.write(octal(BLOCK, 12), 124); // bytes stored: one data block
  header.write(octal(Math.floor(Date.UTC(2026, 0, 1) / 1000), 12), 136);
  header.write("S", 156); // old GNU sparse member
  header.write("ustar  \0", 257, "latin1");
  header.write(octal(0, 12), 386); // sparse map: [0, 512)
  header.write(octal(BLOCK, 12), 398);
  header.write(octal(VIRTUAL_DISK_GIB * GIB, 12), 483); // the real size
  header.fill(" ", 148, 156);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
  const mbr = Buffer.alloc(BLOCK);
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  // A one-partition table, so pre-flights that read the label see a disk.
  mbr[446 + 4] = 0x83;
  mbr.writeUInt32LE(2048, 446 + 8);
  mbr.writeUInt32LE(VIRTUAL_DISK_GIB * 2 * 1024 * 1024 - 2048, 446 + 12);
  // Header, data, two zero blocks to end the archive, padded to GNU tar's 10 KiB record.
  const tar = Buffer.alloc(20 * BLOCK);
  header.copy(tar, 0);
  mbr.copy(tar, BLOCK);
  virtual = gzipSync(tar);
  return virtual;
}

/** A zero-padded octal field of `length` bytes, NUL-terminated. */
function octal(value: number, length: number): string {
  return `${value.toString(8).padStart(length - 1, "0")}\0`;
}
