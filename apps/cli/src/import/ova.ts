// OVA files: a tar holding an OVF descriptor and the disks it names (VMware, VirtualBox and
// Packer exports). `images import app.ova` imports the boot disk; `--all-disks` each disk.
import { execFileSync } from "node:child_process";
import { closeSync, openSync, readSync } from "node:fs";
import { ImportError } from "./disk-archive";

/** One disk of an OVA: the tar member holding it, in the order the OVF lists them. */
export interface OvaDisk {
  readonly member: string;
  /** Whether the OVF's first hard disk drive uses it: the one the machine boots from. */
  readonly boot: boolean;
}

/**
 * The disks of `file` if it is an OVA (a POSIX tar, "ustar" magic at byte 257, holding an .ovf
 * descriptor), else undefined. The tar is listed once and the descriptor read once.
 */
export function ovaDisks(file: string): OvaDisk[] | undefined {
  const fd = openSync(file, "r");
  try {
    const head = Buffer.alloc(262);
    if (readSync(fd, head, 0, 262, 0) < 262 || head.toString("latin1", 257, 262) !== "ustar")
      return undefined;
  } finally {
    closeSync(fd);
  }
  const inside = execFileSync("tar", ["-tf", file], { encoding: "utf8", maxBuffer: 64 << 20 })
    .split("\n")
    .filter((m) => m !== "");
  const ovf = inside.find((m) => m.toLowerCase().endsWith(".ovf"));
  if (ovf === undefined) return undefined;
  const text = execFileSync("tar", ["-xOf", file, ovf], { encoding: "utf8", maxBuffer: 16 << 20 });
  const disks = ovfDisks(text);
  for (const d of disks)
    if (!inside.includes(d.member))
      throw new ImportError(`the OVF names ${d.member}, which ${file} does not hold`);
  return disks;
}

const attr = (element: string, name: string) =>
  new RegExp(`\\b(?:ovf:)?${name}\\s*=\\s*"([^"]*)"`).exec(element)?.[1];

/**
 * The disks an OVF descriptor names, in its DiskSection's order, each with its tar member (its
 * File's href, XML entities decoded); the boot disk is the one the first hard disk drive item
 * (ResourceType 17) of the VirtualHardwareSection points at, else the first disk.
 */
export function ovfDisks(ovf: string): OvaDisk[] {
  const decode = (s: string) =>
    s
      .replaceAll("&quot;", '"')
      .replaceAll("&apos;", "'")
      .replaceAll("&lt;", "<")
      .replaceAll("&gt;", ">")
      .replaceAll("&amp;", "&");
  const files = new Map<string, string>();
  for (const [element] of ovf.matchAll(/<(?:ovf:)?File\b[^>]*>/g)) {
    const id = attr(element, "id");
    const href = attr(element, "href");
    if (id !== undefined && href !== undefined) files.set(id, decode(href));
  }
  const disks: { id: string; member: string }[] = [];
  for (const [element] of ovf.matchAll(/<(?:ovf:)?Disk\b[^>]*>/g)) {
    const id = attr(element, "diskId");
    const member = files.get(attr(element, "fileRef") ?? "");
    if (id !== undefined && member !== undefined) disks.push({ id, member });
  }
  if (disks.length === 0)
    throw new ImportError("the OVF descriptor names no disk (no Disk with a fileRef to a File)");
  let bootId: string | undefined;
  for (const [item] of ovf.matchAll(/<(?:ovf:)?Item\b[^>]*>[\s\S]*?<\/(?:ovf:)?Item>/g)) {
    if (!/<(?:rasd:)?ResourceType>\s*17\s*</.test(item)) continue;
    const host = /<(?:rasd:)?HostResource>\s*ovf:\/+disk\/([^<\s]+)\s*</.exec(item)?.[1];
    if (host !== undefined) {
      bootId = host;
      break;
    }
  }
  const boot = disks.find((d) => d.id === bootId) ?? disks[0];
  return disks.map((d) => ({ member: d.member, boot: d === boot }));
}

/** Extracts one member of the OVA into `dir` (its modification time kept, so a rerun resumes). */
export function extractMember(file: string, member: string, dir: string): void {
  execFileSync("tar", ["-xf", file, "-C", dir, member], { stdio: ["ignore", "ignore", "pipe"] });
}
