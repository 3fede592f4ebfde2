// The first sectors of a disk, as the pre-flight tests need them. Import from spec files only.

/** The EFI system partition's type GUID as GPT stores it. */
export const ESP_GUID = "28732ac11ff8d211ba4b00a0c93ec93b";
/** A Linux file system partition's type GUID as GPT stores it. */
export const LINUX_GUID = "af3dc60f838472478e793d69d8477de4";

/**
 * A disk's first 34 sectors: blank, with an MBR, or with a protective MBR and a GPT whose first
 * partition has `typeGuid` (entries at LBA 2, 128 of 128 bytes).
 */
export function diskSectors(kind: "mbr" | "gpt" | "blank", typeGuid = LINUX_GUID): Buffer {
  const sectors = Buffer.alloc(34 * 512);
  if (kind === "blank") return sectors;
  sectors[510] = 0x55;
  sectors[511] = 0xaa;
  if (kind === "gpt") {
    sectors.write("EFI PART", 512, "latin1");
    sectors.writeBigUInt64LE(2n, 512 + 72);
    sectors.writeUInt32LE(128, 512 + 80);
    sectors.writeUInt32LE(128, 512 + 84);
    Buffer.from(typeGuid, "hex").copy(sectors, 1024);
  }
  return sectors;
}
