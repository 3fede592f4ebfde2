import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { crc32c, crc32cBase64 } from "./crc32c";

describe("crc32c", () => {
  it("matches the standard check value and Cloud Storage's encoding", () => {
    // RFC 3720's check value: CRC-32C of "123456789" is 0xE3069283.
    expect(crc32c(Buffer.from("123456789"))).toBe(0xe3069283);
    expect(crc32c(Buffer.from("6789"), crc32c(Buffer.from("12345")))).toBe(0xe3069283);
    expect(crc32cBase64(0xe3069283)).toBe("4waSgw==");
    expect(crc32c(Buffer.alloc(0))).toBe(0);
  });

  it("agrees with the bit-at-a-time definition for any bytes, split anywhere", () => {
    const reference = (data: Uint8Array) => {
      let crc = 0xffffffff;
      for (const byte of data) {
        crc ^= byte;
        for (let k = 0; k < 8; k++) crc = crc & 1 ? 0x82f63b78 ^ (crc >>> 1) : crc >>> 1;
      }
      return ~crc >>> 0;
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), (data, at) => {
        const cut = data.length === 0 ? 0 : at % data.length;
        expect(crc32c(data)).toBe(reference(data));
        expect(crc32c(data.subarray(cut), crc32c(data.subarray(0, cut)))).toBe(reference(data));
      }),
    );
  });
});
