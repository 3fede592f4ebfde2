import { create } from "@bufbuild/protobuf";
import { CreateImageRequestSchema } from "@imagesvc/proto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkRawDiskSource } from "./cloud-storage";
import { validateCreateImageRequest } from "./create-image-request";
import { namedResources } from "./named-resources";

const GCS = "https://storage.googleapis.com/";

/** The bucket the gateway authorizes for `source`: the one `namedResources` reports. */
function authorizedBucket(source: string): string | undefined {
  const request = create(CreateImageRequestSchema, {
    project: "my-project",
    image: { name: "web", rawDisk: { source } },
  });
  const found = namedResources(request).find((r) => r.kind === "bucket");
  return found?.kind === "bucket" ? found.bucket : undefined;
}

/** The bucket a reader that parses `source` as a URL goes to: its first decoded path segment. */
function parsedBucket(source: string): string {
  return decodeURIComponent(new URL(source).pathname.split("/")[1] ?? "");
}

describe("checkRawDiskSource", () => {
  it.each([
    ["a .. segment into another bucket", "bucket-a/../bucket-b/disk.tar.gz", /"\.\." path segment/],
    ["a . segment", "bucket-a/./disk.tar.gz", /"\." path segment/],
    ["a trailing .. segment", "bucket-a/images/..", /"\.\." path segment/],
    ["a .. segment as the bucket", "../bucket-b/disk.tar.gz", /"\.\." path segment/],
    ["%2e%2e", "bucket-a/%2e%2e/bucket-b/disk.tar.gz", /"%2e%2e" path segment/],
    ["%2E%2E", "bucket-a/%2E%2E/bucket-b/disk.tar.gz", /"%2E%2E" path segment/],
    ["a half-encoded ..", "bucket-a/.%2E/bucket-b/disk.tar.gz", /".%2E" path segment/],
    ["%2E alone", "bucket-a/%2E/disk.tar.gz", /"%2E" path segment/],
    [
      "an encoded slash %2F",
      "bucket-a/x%2F..%2F..%2Fbucket-b%2Fdisk.tar.gz",
      /"%2F", an encoded slash/,
    ],
    ["an encoded slash %2f", "bucket-a%2f..%2fbucket-b/disk.tar.gz", /"%2f", an encoded slash/],
    [
      "an encoded backslash %5C",
      "bucket-a/..%5Cbucket-b/disk.tar.gz",
      /"%5C", an encoded backslash/,
    ],
    ["an encoded backslash %5c", "bucket-a/x%5cdisk.tar.gz", /"%5c", an encoded backslash/],
    ["a backslash", "bucket-a\\..\\bucket-b/disk.tar.gz", /contains a backslash/],
    ["a tab inside a ..", "bucket-a/.\t./bucket-b/disk.tar.gz", /control character/],
    ["a line break", "bucket-a/disk\n.tar.gz", /control character/],
    ["a trailing space after a ..", "bucket-a/%2e%2e ", /ends with a space/],
  ])("refuses %s, saying why and how to fix it", (_, path, problem) => {
    const description = checkRawDiskSource(`${GCS}${path}`);
    expect(description).toMatch(problem);
    expect(description).toMatch(/could be in another bucket than the one named/);
    expect(description).toMatch(
      /name the archive by its plain path, BUCKET\/FOLDER\/OBJECT|write a trailing space as %20/,
    );
  });

  it("says where a URL parser would take a source with dot segments or backslashes", () => {
    expect(checkRawDiskSource(`${GCS}bucket-a/../bucket-b/disk.tar.gz`)).toContain(
      `it resolves to "${GCS}bucket-b/disk.tar.gz"`,
    );
    expect(checkRawDiskSource(`${GCS}bucket-a/x\\..\\..\\bucket-b/disk.tar.gz`)).toContain(
      `it resolves to "${GCS}bucket-b/disk.tar.gz"`,
    );
  });

  it("reports the problem at image.raw_disk.source as INVALID_ARGUMENT's field", () => {
    const request = create(CreateImageRequestSchema, {
      project: "my-project",
      image: { name: "web", rawDisk: { source: `${GCS}bucket-a/../bucket-b/disk.tar.gz` } },
    });
    expect(validateCreateImageRequest(request).map((v) => v.field)).toEqual([
      "image.raw_disk.source",
    ]);
  });

  it.each([
    ["dots inside a name", "bucket-a/v1.2/disk..tar.gz"],
    ["three dots", "bucket-a/.../disk.tar.gz"],
    ["a dotted folder", "bucket-a/.config/disk.tar.gz"],
    ["other percent-encoding", "bucket-a/disk%20image%2B1.tar.gz"],
    ["a trailing space written as %20", "bucket-a/disk.tar.gz%20"],
    ["an empty folder", "bucket-a/images//disk.tar.gz"],
  ])("accepts %s", (_, path) => {
    expect(checkRawDiskSource(`${GCS}${path}`)).toBeUndefined();
  });

  it("accepts only sources whose authorized bucket is the bucket a URL parser reads", () => {
    // Paths built from the pieces that move a parser or a decoding server between buckets, mixed
    // with ordinary ones; only those the check accepts are held to the property.
    const piece = fc.constantFrom(
      "/",
      ".",
      "..",
      "%2e",
      "%2E",
      ".%2e",
      "%2e%2e",
      "%2F",
      "%2f",
      "%5C",
      "%5c",
      "%25",
      "%",
      "\\",
      "\t",
      "\n",
      " ",
      "?",
      "#",
      "bucket-a",
      "bucket-b",
      "disk.tar.gz",
      "日本",
      "x",
    );
    const path = fc
      .tuple(fc.constantFrom("bucket-a/", "bucket-b/", ""), fc.array(piece, { maxLength: 12 }))
      .map(([start, pieces]) => `${start}${pieces.join("")}`);
    let accepted = 0;
    fc.assert(
      fc.property(path, (p) => {
        const source = `${GCS}${p}`;
        if (checkRawDiskSource(source) !== undefined) return;
        accepted++;
        expect(authorizedBucket(source)).toBe(parsedBucket(source));
        // Nothing was resolved away: the parser keeps every segment written.
        expect(new URL(source).pathname.split("/").length).toBe(p.split("/").length + 1);
      }),
      { numRuns: 5000 },
    );
    expect(accepted).toBeGreaterThan(100);
  });
});
