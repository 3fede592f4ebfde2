import { describe, expect, it } from "vitest";
import { wholeGib } from "./disk-archive";
import { imageNameOf } from "./import-command";
import { size } from "./upload";

describe("images import helpers", () => {
  it.each([
    ["/x/web.vmdk", "web"],
    ["Web Server 2.qcow2", "web-server-2"],
    ["./2024_disk.tar.gz", "disk"],
    ["disk.raw", "disk"],
    ["123.img", "imported-disk"],
    [`${"a".repeat(70)}-.vhdx`, "a".repeat(63)],
  ])("names the image of %s %s", (file, name) => {
    expect(imageNameOf(file)).toBe(name);
  });

  it("rounds a disk up to whole GiB, at least one", () => {
    const GIB = 1024 ** 3;
    expect(wholeGib(0)).toBe(GIB);
    expect(wholeGib(GIB)).toBe(GIB);
    expect(wholeGib(1500 * 1024 * 1024)).toBe(2 * GIB);
  });

  it("prints sizes as people read them", () => {
    expect(size(512)).toBe("512 B");
    expect(size(3 * 1024 * 1024)).toBe("3.0 MiB");
    expect(size(1.5 * 1024 ** 3)).toBe("1.5 GiB");
  });
});
