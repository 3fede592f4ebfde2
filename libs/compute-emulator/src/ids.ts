import { randomBytes } from "node:crypto";

let pool = Buffer.alloc(0);
let used = 0;

/**
 * `n` random bytes from a pool refilled 4 KiB at a time, as Node's randomUUID draws its own: one
 * system call per few hundred ids, where `randomBytes(n)` made one per id, a cost that showed in
 * the emulator's CPU per insert. The bytes are as random; each is handed out once.
 */
function random(n: number): Buffer {
  if (used + n > pool.length) {
    pool = randomBytes(4096);
    used = 0;
  }
  used += n;
  return pool.subarray(used - n, used);
}

/** A random unsigned 64-bit id as a decimal string, as Compute writes `id` and `targetId`. */
export function newId(): string {
  return random(8).readBigUInt64BE().toString();
}

/** An operation name in Compute's shape: `operation-1764254412345-6445a0bd1a2f4-4e5ae6a9-8a6f2d1c`. */
export function newOperationName(now: number): string {
  const hex = random(16).toString("hex");
  return `operation-${now}-${hex.slice(0, 13)}-${hex.slice(13, 21)}-${hex.slice(21, 29)}`;
}

/** A seeded generator of numbers in [0, 1) (mulberry32), so fault runs can be repeated. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
