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
});
