import { clone, toBinary } from "@bufbuild/protobuf";
import { CreateImageRequestSchema, type CreateImageRequest } from "@imagesvc/proto";
import { createHash } from "node:crypto";

/**
 * A digest of what a CreateImage request asks for, so a repeated request_id can be told apart
 * from a reused one. Labels are sorted first: `{a, b}` and `{b, a}` ask for the same image.
 */
export function requestFingerprint(request: CreateImageRequest): string {
  const canonical = clone(CreateImageRequestSchema, request);
  canonical.requestId = canonical.requestId.toLowerCase();
  if (canonical.image !== undefined) {
    canonical.image.labels = Object.fromEntries(
      Object.entries(canonical.image.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    );
  }
  return createHash("sha256")
    .update(toBinary(CreateImageRequestSchema, canonical))
    .digest("base64url");
}
