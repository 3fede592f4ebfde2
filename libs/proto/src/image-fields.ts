/**
 * The fields of Compute's v1 `images` resource that a caller cannot write, by resource type, with
 * Compute's JSON names. Everything else Compute's Image carries is in `Image` (image.proto) under
 * the same name; `image-fields.spec.ts` checks that against Google's own client
 * (`compute_v1.Schema$Image` of @googleapis/compute), so a field Compute adds fails a test.
 *
 * Sources: the v1 discovery document's "[Output Only]" marks and ../shared/reference/compute-facts.md.
 * Google's client marks `deprecated` output only too, but `images.insert` takes it (packer
 * creates images DEPRECATED, coreos-assembler promotes them later): it is writable here.
 */
export const OUTPUT_ONLY: Readonly<Record<string, readonly string[]>> = {
  Image: [
    "archiveSizeBytes", // measured by Compute from the archive
    "creationTimestamp",
    "enableConfidentialCompute", // taken from a confidential-mode source disk
    "id",
    "kind",
    "labelFingerprint", // for setLabels; an insert has no labels to guard yet
    "licenseCodes", // set from `licenses`
    "satisfiesPzi",
    "satisfiesPzs",
    "selfLink",
    "sourceDiskId",
    "sourceImageId",
    "sourceSnapshotId",
    "status",
  ],
  /** `sha256`: Compute's hash of a customer-supplied key; the key itself is never returned. */
  CustomerEncryptionKey: ["sha256"],
};
