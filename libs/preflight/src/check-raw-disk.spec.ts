import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { checkRawDisk, type PreflightResult, type RawDiskObject } from "./check-raw-disk";
import { diskSectors, ESP_GUID, tarHeader as header } from "./disk-sectors.test-helper";
import { firstMember, numeric } from "./tar-header";

const GIB = 1024 ** 3;
const SOURCE = "https://storage.googleapis.com/b/web.tar.gz";

const disk = diskSectors;
const ESP = ESP_GUID;

function object(archive: Buffer, extra: Partial<RawDiskObject> = {}): RawDiskObject {
  return { source: SOURCE, head: gzipSync(archive), uefiCompatible: false, ...extra };
}
/** The failure of a check that must fail, as one line: code, found, fix. */
function failure(result: PreflightResult): string {
  if (result.ok) throw new Error(`expected a failure, got ${JSON.stringify(result)}`);
  return `${result.code} | ${result.found} | ${result.fix}`;
}

const good = (sectors = disk("mbr"), size = 10 * GIB) =>
  Buffer.concat([header("disk.raw", size), sectors]);

describe("checkRawDisk", () => {
  it("passes an OLDGNU archive of disk.raw, a whole number of GiB, with an MBR", () => {
    expect(checkRawDisk(object(good()))).toEqual({
      ok: true,
      diskBytes: 10 * GIB,
      table: "MBR",
      warnings: [],
    });
  });

  it.each([
    [
      "not gzip",
      { head: Buffer.from("KDMV\x01\x00\x00\x00", "latin1") },
      /gzip's magic bytes .*looks like a VMDK/,
    ],
    ["transcoded", { contentEncoding: "gzip" }, /Content-Encoding: gzip.*--clear-content-encoding/],
  ])("refuses an object that is %s", (_, extra, message) => {
    const result = checkRawDisk(object(good(), extra));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(`${result.found} ${result.fix}`).toMatch(message);
  });

  it("refuses a POSIX tar, naming Compute's message and the tar command that fixes it", () => {
    const result = checkRawDisk(
      object(Buffer.concat([header("disk.raw", GIB, { format: "posix" }), disk("mbr")])),
    );
    expect(failure(result)).toMatch(
      /^INVALID_IMAGE_TAR \| The tar archive format is not supported\. Supported formats are: GNU and OLDGNU \(this one is POSIX ustar\) \| .*tar --format=oldgnu -Sczf IMAGE\.tar\.gz disk\.raw/,
    );
  });

  it("refuses a pax archive", () => {
    const pax = Buffer.concat([
      header("PaxHeaders/disk.raw", 30, { format: "posix", type: "x" }),
      Buffer.alloc(512),
      header("disk.raw", GIB, { format: "posix" }),
      disk("mbr"),
    ]);
    expect(failure(checkRawDisk(object(pax)))).toContain("POSIX pax");
  });

  it("refuses a first member with another name, in Compute's words", () => {
    const result = checkRawDisk(
      object(Buffer.concat([header("tmp/output.img", GIB), disk("mbr")])),
    );
    expect(result).toMatchObject({
      ok: false,
      found:
        "The tar archive's first file was named 'tmp/output.img'. It should be named 'disk.raw'",
    });
  });

  it("reads a GNU long name to the member it names", () => {
    const name = `${"d/".repeat(60)}disk.img`;
    const long = Buffer.concat([
      header("././@LongLink", name.length + 1, { type: "L" }),
      Buffer.from(`${name}\0`.padEnd(512, "\0")),
      header(name.slice(0, 99), GIB),
      disk("mbr"),
    ]);
    expect(failure(checkRawDisk(object(long)))).toContain(`'${name}'`);
  });

  it("refuses a size that is not a whole number of GiB, and says how to grow it", () => {
    expect(failure(checkRawDisk(object(good(disk("mbr"), GIB + 512))))).toMatch(
      /^INVALID_IMAGE_SIZE \| .* \| grow it to 2 GiB first: qemu-img resize -f raw disk\.raw 2G/,
    );
  });

  it("reads GNU base-256 sizes (8 GiB and more)", () => {
    const size = Buffer.alloc(12);
    size[0] = 0x80;
    size.writeUIntBE(100 * GIB, 6, 6);
    expect(numeric(size, 0, 12)).toBe(100 * GIB);
    expect(
      checkRawDisk(object(Buffer.concat([header("disk.raw", size), disk("mbr")]))),
    ).toMatchObject({ ok: true, diskBytes: 100 * GIB });
  });

  it("refuses a disk with no partition table", () => {
    expect(checkRawDisk(object(good(disk("blank"))))).toMatchObject({
      ok: false,
      code: "INVALID_IMAGE_DISK",
    });
  });

  it("warns, in Compute's warnings shape, of a GPT with an EFI system partition and no UEFI_COMPATIBLE", () => {
    const result = checkRawDisk(object(good(disk("gpt", ESP))));
    expect(result).toMatchObject({ ok: true, table: "GPT" });
    if (!result.ok) return;
    expect(result.warnings).toEqual([
      expect.objectContaining({
        code: "UEFI_COMPATIBLE_MISSING",
        data: [{ key: "field", value: "image.guest_os_features" }],
      }),
    ]);
    expect(checkRawDisk(object(good(disk("gpt", ESP)), { uefiCompatible: true }))).toMatchObject({
      ok: true,
      warnings: [],
    });
    expect(checkRawDisk(object(good(disk("gpt"))))).toMatchObject({ ok: true, warnings: [] });
  });

  it("refuses bytes that are not a tar header at all", () => {
    expect(failure(checkRawDisk(object(Buffer.alloc(2048, 7))))).toMatch(
      /^INVALID_IMAGE_TAR \| The tar archive is not a valid image/,
    );
    expect(() => firstMember(Buffer.alloc(100))).toThrow(/ends before its first header/);
  });
});
