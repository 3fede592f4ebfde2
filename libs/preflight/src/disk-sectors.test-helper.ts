// The first sectors of a disk and tar headers, as the pre-flight and emulator tests need them.
// Import from spec files only (`@imagesvc/preflight/testing`).

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

/** A 512-byte tar header, as GNU tar (magic "ustar  \0") or POSIX ustar ("ustar\0" "00") writes it. */
export function tarHeader(
  name: string,
  size: number | Buffer,
  { format = "gnu", type = "0" }: { format?: "gnu" | "posix" | "v7"; type?: string } = {},
): Buffer {
  const block = Buffer.alloc(512);
  block.write(name, 0, "utf8");
  block.write("0000644\0", 100);
  if (typeof size === "number") block.write(`${size.toString(8).padStart(11, "0")}\0`, 124);
  else size.copy(block, 124);
  block.write("00000000000\0", 136);
  block.write(type, 156);
  if (format === "gnu") block.write("ustar  \0", 257, "latin1");
  if (format === "posix") block.write("ustar\u000000", 257, "latin1");
  block.fill(" ", 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
  return block;
}
