// The pre-flight against archives made by GNU tar itself, as the README tells users to make
// them: sparse 1 GiB disks with a real partition table, in each format tar offers.
import { execFileSync } from "node:child_process";
import {
  closeSync,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  truncateSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkRawDisk, HEAD_BYTES } from "./check-raw-disk";
import { diskSectors, ESP_GUID } from "./disk-sectors.test-helper";

const dir = mkdtempSync(join(tmpdir(), "preflight-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A sparse disk.raw of `bytes` with an MBR, or a GPT with an EFI system partition, and some data far in. */
function makeDisk(name: string, bytes: number, label: "mbr" | "gpt-esp"): string {
  const folder = join(dir, name);
  execFileSync("mkdir", ["-p", folder]);
  const path = join(folder, "disk.raw");
  closeSync(openSync(path, "w"));
  truncateSync(path, bytes);
  const fd = openSync(path, "r+");
  const first = label === "mbr" ? diskSectors("mbr") : diskSectors("gpt", ESP_GUID);
  writeSync(fd, first, 0, first.length, 0);
  writeSync(fd, Buffer.alloc(4096, 1), 0, 4096, Math.floor(bytes / 2));
  closeSync(fd);
  return folder;
}

/** Runs GNU tar in `folder` and returns the archive's first HEAD_BYTES bytes. */
function archive(folder: string, args: string[], member = "disk.raw"): Buffer {
  const out = join(folder, "out.tar.gz");
  execFileSync("tar", [...args, "-czf", out, member], { cwd: folder });
  const fd = openSync(out, "r");
  const head = Buffer.alloc(HEAD_BYTES);
  const n = readSync(fd, head, 0, HEAD_BYTES, 0);
  closeSync(fd);
  return head.subarray(0, n);
}

const check = (head: Buffer, uefiCompatible = false) =>
  checkRawDisk({ source: "https://storage.googleapis.com/b/o.tar.gz", head, uefiCompatible });

describe("archives made by GNU tar", () => {
  it.each([["oldgnu"], ["gnu"]])("passes a sparse 1 GiB disk in --format=%s -S", (format) => {
    const folder = makeDisk(`ok-${format}`, 1024 ** 3, "mbr");
    expect(check(archive(folder, [`--format=${format}`, "-S"]))).toEqual({
      ok: true,
      diskBytes: 1024 ** 3,
      table: "MBR",
      warnings: [],
    });
  });

  it("refuses --format=posix, and a disk that is not a whole number of GiB", () => {
    const folder = makeDisk("posix", 1024 ** 3, "mbr");
    expect(check(archive(folder, ["--format=posix", "-S"]))).toMatchObject({
      ok: false,
      code: "INVALID_IMAGE_TAR",
    });
    const odd = makeDisk("odd", 1024 ** 3 + 4096, "mbr");
    expect(check(archive(odd, ["--format=oldgnu", "-S"]))).toMatchObject({
      ok: false,
      code: "INVALID_IMAGE_SIZE",
    });
  });

  it("warns of a GPT with an EFI system partition unless UEFI_COMPATIBLE is listed", () => {
    const folder = makeDisk("esp", 2 * 1024 ** 3, "gpt-esp");
    const head = archive(folder, ["--format=oldgnu", "-S"]);
    expect(check(head)).toMatchObject({
      ok: true,
      table: "GPT",
      warnings: [{ code: "UEFI_COMPATIBLE_MISSING" }],
    });
    expect(check(head, true)).toMatchObject({ ok: true, warnings: [] });
  });
});
