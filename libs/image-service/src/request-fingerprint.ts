import { toBinary } from "@bufbuild/protobuf";
import { CreateImageRequestSchema, type CreateImageRequest } from "@imagesvc/proto";
import { createHash } from "node:crypto";

/**
 * A digest of what a CreateImage request asks for, so a repeated request_id can be told apart
 * from a reused one. Labels are sorted first: `{a, b}` and `{b, a}` ask for the same image.
 *
 * The digest is stored with each request id and compared by every gateway, old and new, so its
 * bytes never change between releases (request-fingerprint.spec.ts pins them). The canonical
 * form is built from shallow copies: a deep clone of the whole request per CreateImage costs far
 * more than the digest itself (the bench measures CreateImage's CPU).
 */
export function requestFingerprint(request: CreateImageRequest): string {
  const image =
    request.image === undefined
      ? undefined
      : {
          ...request.image,
          labels: Object.fromEntries(
            Object.entries(request.image.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
          ),
        };
  const canonical: CreateImageRequest = {
    ...request,
    requestId: request.requestId.toLowerCase(),
    image,
  };
  return createHash("sha256")
    .update(toBinary(CreateImageRequestSchema, canonical))
    .digest("base64url");
}
