import { diskLabel, LABEL_BYTES } from "./disk-label";
import { firstMember, inflateHead, readMember, TarError } from "./tar-header";

/** How much of the object to read: the gzip stream's first bytes hold the tar header and the label. */
export const HEAD_BYTES = 64 * 1024;
/** At most this much is decompressed from them, so a crafted stream cannot blow up memory. */
const MAX_INFLATED = 1024 * 1024;
const GIB = 1024 ** 3;
/** The archive as Compute wants it, and the one command that makes it (GNU tar). */
const FIX_ARCHIVE = "tar --format=oldgnu -Sczf IMAGE.tar.gz disk.raw";

/** What Cloud Storage says of the object, and its first bytes (a ranged read). */
export interface RawDiskObject {
  /** `https://storage.googleapis.com/BUCKET/OBJECT`, for messages. */
  readonly source: string;
  /** The object's `contentEncoding`, if any. */
  readonly contentEncoding?: string;
  /** The first HEAD_BYTES bytes (or all of a smaller object). */
  readonly head: Uint8Array;
  /** Whether the request lists the UEFI_COMPATIBLE guest OS feature. */
  readonly uefiCompatible: boolean;
}

/** A warning in Compute's `warnings[]` shape. */
export interface PreflightWarning {
  readonly code: string;
  readonly message: string;
  readonly data: readonly { readonly key: string; readonly value: string }[];
}

export type PreflightResult =
  | {
      readonly ok: true;
      readonly diskBytes: number;
      readonly table: "MBR" | "GPT";
      readonly warnings: readonly PreflightWarning[];
    }
  | {
      readonly ok: false;
      /** Compute's code for the same problem where it has one, e.g. INVALID_IMAGE_TAR. */
      readonly code: string;
      /** Which check failed, what it found, and how to fix it: one sentence each. */
      readonly check: string;
      readonly found: string;
      readonly fix: string;
    };

const fail = (code: string, check: string, found: string, fix: string): PreflightResult => ({
  ok: false,
  code,
  check,
  found,
  fix,
});

/**
 * The pre-flight of `image.raw_disk.source`: everything that Compute would otherwise report
 * minutes later as an asynchronous failure, checked from the object's metadata and first bytes.
 * Each failure names the check, what was found, and the command that fixes it.
 */
export function checkRawDisk(object: RawDiskObject): PreflightResult {
  if (object.contentEncoding?.toLowerCase() === "gzip") {
    return fail(
      "INVALID_IMAGE_TAR",
      "the object is stored as the archive itself, not transcoded",
      `${object.source} has Content-Encoding: gzip, so Cloud Storage would hand Compute the decompressed tar instead of the .tar.gz`,
      `upload it without that header, or remove it: gcloud storage objects update ${gsUrl(object.source)} --clear-content-encoding`,
    );
  }
  const head = object.head;
  if (head.length < 2 || head[0] !== 0x1f || head[1] !== 0x8b) {
    return fail(
      "INVALID_IMAGE_TAR",
      "the object is a gzip-compressed tar archive",
      `${object.source} does not start with gzip's magic bytes (${hex(head.subarray(0, 4))})${sniff(head)}`,
      `make the disk a raw file named disk.raw and archive it with GNU tar: ${FIX_ARCHIVE}`,
    );
  }
  let archive: Uint8Array;
  try {
    archive = inflateHead(head, MAX_INFLATED);
  } catch (e) {
    return fail(
      "INVALID_IMAGE_TAR",
      "the gzip stream decompresses",
      `${object.source}'s gzip stream is corrupt (${(e as Error).message})`,
      `archive the disk again: ${FIX_ARCHIVE}`,
    );
  }
  let member;
  try {
    member = firstMember(archive);
  } catch (e) {
    return fail(
      "INVALID_IMAGE_TAR",
      "the archive is a tar archive",
      `The tar archive is not a valid image: ${e instanceof TarError ? e.message : String(e)}`,
      `archive the disk with GNU tar: ${FIX_ARCHIVE}`,
    );
  }
  if (member.format !== "gnu") {
    return fail(
      "INVALID_IMAGE_TAR",
      "the archive is in GNU or OLDGNU tar format",
      `The tar archive format is not supported. Supported formats are: GNU and OLDGNU (this one is ${member.format === "posix" ? "POSIX ustar" : member.format === "pax" ? "POSIX pax" : "V7"})`,
      `archive it again with GNU tar in the old GNU format: ${FIX_ARCHIVE}`,
    );
  }
  if (member.name !== "disk.raw") {
    return fail(
      "INVALID_IMAGE_TAR",
      "the archive's first member is named disk.raw",
      `The tar archive's first file was named '${member.name}'. It should be named 'disk.raw'`,
      `rename the disk and archive it from its own directory: mv '${member.name}' disk.raw && ${FIX_ARCHIVE}`,
    );
  }
  const sectors =
    readMember(archive, member, 0, LABEL_BYTES) ?? readMember(archive, member, 0, 512);
  return checkDiskSectors({ size: member.size, sectors, uefiCompatible: object.uefiCompatible });
}

/**
 * The checks of the disk itself, for a raw disk read from an archive or straight from a file
 * (`images import` runs them right after converting, before compressing): its size is whole GiB,
 * its first sectors hold an MBR or GPT, and an EFI system partition comes with UEFI_COMPATIBLE.
 * `sectors` is its first LABEL_BYTES (or at least its first 512), undefined if out of reach.
 */
export function checkDiskSectors(disk: {
  readonly size: number;
  readonly sectors: Uint8Array | undefined;
  readonly uefiCompatible: boolean;
}): PreflightResult {
  if (disk.size === 0 || disk.size % GIB !== 0) {
    const gib = Math.ceil(disk.size / GIB) || 1;
    return fail(
      "INVALID_IMAGE_SIZE",
      "disk.raw's size is a whole number of GiB",
      `disk.raw is ${disk.size} bytes, ${(disk.size / GIB).toFixed(3)} GiB`,
      `grow it to ${gib} GiB first: qemu-img resize -f raw disk.raw ${gib}G && ${FIX_ARCHIVE}`,
    );
  }
  const label = disk.sectors === undefined ? undefined : diskLabel(disk.sectors);
  if (label === undefined || label.table === "none") {
    return fail(
      "INVALID_IMAGE_DISK",
      "disk.raw has an MBR or GPT partition table",
      label === undefined
        ? "disk.raw's first sector is not within the archive's first bytes"
        : "disk.raw's first sectors hold no MBR signature and no GPT header",
      "convert the whole disk (not a partition or a file system) to raw: qemu-img convert -O raw SOURCE disk.raw",
    );
  }
  const warnings: PreflightWarning[] = [];
  if (label.efiSystemPartition && !disk.uefiCompatible) {
    warnings.push({
      code: "UEFI_COMPATIBLE_MISSING",
      message:
        "disk.raw has an EFI system partition, but the request does not list the UEFI_COMPATIBLE guest OS feature: instances of this image will boot with BIOS and may not start. Add { type: UEFI_COMPATIBLE } to image.guest_os_features.",
      data: [{ key: "field", value: "image.guest_os_features" }],
    });
  }
  return { ok: true, diskBytes: disk.size, table: label.table, warnings };
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex") || "nothing";

/** What the bytes look like instead, for the usual mistakes. */
function sniff(head: Uint8Array): string {
  const start = Buffer.from(head.subarray(0, 8)).toString("latin1");
  if (start.startsWith("KDMV"))
    return "; it looks like a VMDK: convert it to raw with qemu-img first";
  if (start.startsWith("QFI\xfb"))
    return "; it looks like a qcow2 image: convert it to raw with qemu-img first";
  if (start.startsWith("conectix") || start.startsWith("vhdxfile"))
    return "; it looks like a VHD or VHDX: convert it to raw with qemu-img first";
  if (head.length >= 263 && Buffer.from(head.subarray(257, 262)).toString("latin1") === "ustar")
    return "; it is an uncompressed tar: compress it (the z in -Sczf)";
  return "";
}

function gsUrl(source: string): string {
  return source.replace(/^https:\/\/storage\.googleapis\.com\//, "gs://");
}
