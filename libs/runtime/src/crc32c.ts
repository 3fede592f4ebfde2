/**
 * CRC-32C (Castagnoli), as Cloud Storage reports it in `crc32c` (base64 of the big-endian value):
 * clients check their uploads and downloads against it. Node's zlib offers only CRC-32.
 */
/**
 * Slicing-by-8 tables: TABLES[0] is the byte-at-a-time table; TABLES[k][n] is n's CRC after k
 * more zero bytes, so eight bytes fold in with eight lookups and no per-byte loop.
 */
const TABLES = (() => {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256));
  const first = tables[0] ?? new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    first[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++)
    for (let k = 1; k < 8; k++) {
      const c = tables[k - 1]?.[n] ?? 0;
      const table = tables[k];
      if (table !== undefined) table[n] = ((c >>> 8) ^ (first[c & 0xff] ?? 0)) >>> 0;
    }
  return tables as [
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
  ];
})();

/** Folds `data` into a running CRC-32C; start from 0. */
export function crc32c(data: Uint8Array, previous = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES;
  // Whole words read as little-endian uint32 (the CRC is reflected), then the bytes left.
  const words = Math.floor(data.length / 8);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let crc = ~previous >>> 0;
  for (let w = 0; w < words; w++) {
    const lo = (crc ^ view.getUint32(w * 8, true)) >>> 0;
    const hi = view.getUint32(w * 8 + 4, true);
    crc =
      (t7[lo & 0xff] ?? 0) ^
      (t6[(lo >>> 8) & 0xff] ?? 0) ^
      (t5[(lo >>> 16) & 0xff] ?? 0) ^
      (t4[lo >>> 24] ?? 0) ^
      (t3[hi & 0xff] ?? 0) ^
      (t2[(hi >>> 8) & 0xff] ?? 0) ^
      (t1[(hi >>> 16) & 0xff] ?? 0) ^
      (t0[hi >>> 24] ?? 0);
  }
  for (let i = words * 8; i < data.length; i++)
    crc = (t0[(crc ^ (data[i] ?? 0)) & 0xff] ?? 0) ^ (crc >>> 8);
  return ~crc >>> 0;
}

/** The base64 form Cloud Storage puts in `crc32c`. */
export function crc32cBase64(value: number): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0);
  return out.toString("base64");
}
