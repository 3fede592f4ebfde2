/**
 * What a disk's first sectors say about it: an MBR or a GPT partition table, and whether one of
 * its partitions is an EFI system partition (then the image boots with UEFI, and Compute must be
 * told so with the UEFI_COMPATIBLE guest OS feature).
 */

export const SECTOR = 512;
/** The sectors needed: the protective MBR, the GPT header, and the usual 32 sectors of entries. */
export const LABEL_BYTES = 34 * SECTOR;

/** The EFI system partition's type GUID, C12A7328-F81F-11D2-BA4B-00A0C93EC93B, as GPT stores it. */
const ESP_GUID = Buffer.from("28732ac11ff8d211ba4b00a0c93ec93b", "hex");
/** The MBR partition type of an EFI system partition. */
const MBR_ESP = 0xef;

export interface DiskLabel {
  readonly table: "MBR" | "GPT" | "none";
  /** An EFI system partition is among the partitions. */
  readonly efiSystemPartition: boolean;
}

/** Reads the partition table from the disk's first bytes (at least LABEL_BYTES, or what there is). */
export function diskLabel(head: Uint8Array): DiskLabel {
  const bytes = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  const hasMbr = bytes.length >= SECTOR && bytes[510] === 0x55 && bytes[511] === 0xaa;
  if (
    bytes.length >= 2 * SECTOR &&
    bytes.subarray(SECTOR, SECTOR + 8).toString("latin1") === "EFI PART"
  ) {
    const entriesLba = Number(bytes.readBigUInt64LE(SECTOR + 72));
    const count = bytes.readUInt32LE(SECTOR + 80);
    const size = bytes.readUInt32LE(SECTOR + 84);
    let esp = false;
    for (let i = 0; i < Math.min(count, 128); i++) {
      const at = entriesLba * SECTOR + i * size;
      if (at + 16 > bytes.length) break;
      if (bytes.subarray(at, at + 16).equals(ESP_GUID)) esp = true;
    }
    return { table: "GPT", efiSystemPartition: esp };
  }
  if (!hasMbr) return { table: "none", efiSystemPartition: false };
  let esp = false;
  for (let i = 0; i < 4; i++) if (bytes[446 + i * 16 + 4] === MBR_ESP) esp = true;
  return { table: "MBR", efiSystemPartition: esp };
}
