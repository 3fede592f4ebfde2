import type { CreateImageRequest } from "@imagesvc/proto";
import { SOURCE_KEYS } from "./image-extras";

/**
 * Something a CreateImage request makes the service touch with its own credentials: a project
 * (a source disk, image or snapshot, a license, a KMS key, a service account) or a Cloud Storage
 * bucket. A license counts: it can carry billing and entitlements into the image.
 * The gateway authorizes each one for the caller, not only the target project: otherwise the
 * service is a confused deputy that copies another team's disk into a project the caller can boot.
 */
export type NamedResource =
  | {
      readonly kind: "project";
      /** The request field, e.g. `image.source_disk` or `image.licenses[0]`. */
      readonly field: string;
      readonly project: string;
    }
  | { readonly kind: "bucket"; readonly field: string; readonly bucket: string }
  /**
   * Something whose name does not say its project: a service account whose email does not (a
   * project's default one), a tag key or value by numeric id, a tag of an organization.
   * `fix` says which form would tell.
   */
  | {
      readonly kind: "unknown-project";
      readonly field: string;
      readonly value: string;
      readonly fix: string;
    };

const COMPUTE_URL = /^https:\/\/(?:www|compute)\.googleapis\.com\/compute\/(?:v1|beta|alpha)\//;
const STORAGE_URL = "https://storage.googleapis.com/";
/** `NAME@PROJECT.iam.gserviceaccount.com`: a user-managed service account of PROJECT. */
/** A tag's parent that is a project id (an organization's is numeric). */
const PROJECT_ID = /^[a-z][-a-z0-9]{4,28}[a-z0-9]$/;
const SERVICE_ACCOUNT = /^[^@]+@([a-z][-a-z0-9]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com$/;

/**
 * Every project and bucket a request names, with the field that names it. Meant for a request
 * that passed `validateCreateImageRequest`: a reference without a project (`zones/Z/disks/D`,
 * `global/images/I`) names the target project, as Compute reads it.
 */
export function namedResources(request: CreateImageRequest): NamedResource[] {
  const image = request.image;
  if (image === undefined) return [];
  const out: NamedResource[] = [];
  const reference = (field: string, value: string) => {
    if (value === "") return;
    const path = value.replace(COMPUTE_URL, "");
    const project = path.startsWith("projects/") ? (path.split("/")[1] ?? "") : request.project;
    out.push({ kind: "project", field, project });
  };
  reference("image.source_disk", image.sourceDisk);
  reference("image.source_image", image.sourceImage);
  reference("image.source_snapshot", image.sourceSnapshot);
  image.licenses.forEach((license, i) => {
    reference(`image.licenses[${i}]`, license);
  });
  const source = image.rawDisk?.source ?? "";
  if (source.startsWith(STORAGE_URL)) {
    const bucket = source.slice(STORAGE_URL.length).split("/")[0] ?? "";
    out.push({ kind: "bucket", field: "image.raw_disk.source", bucket });
  }
  const keys = [
    ["image.image_encryption_key", image.imageEncryptionKey] as const,
    ...SOURCE_KEYS.map(([field, , keyOf]) => [`image.${field}`, keyOf(image)] as const),
  ];
  for (const [at, key] of keys) {
    if (key === undefined) continue;
    if (key.kmsKeyName !== "")
      out.push({
        kind: "project",
        field: `${at}.kms_key_name`,
        project: key.kmsKeyName.split("/")[1] ?? "",
      });
    if (key.kmsKeyServiceAccount !== "") {
      const field = `${at}.kms_key_service_account`;
      const project = SERVICE_ACCOUNT.exec(key.kmsKeyServiceAccount)?.[1];
      out.push(
        project === undefined
          ? {
              kind: "unknown-project",
              field,
              value: key.kmsKeyServiceAccount,
              fix: "use a service account NAME@PROJECT.iam.gserviceaccount.com",
            }
          : { kind: "project", field, project },
      );
    }
  }
  reference("image.deprecated.replacement", image.deprecated?.replacement ?? "");
  for (const [key, value] of Object.entries(image.params?.resourceManagerTags ?? {})) {
    const field = `image.params.resource_manager_tags[${JSON.stringify(key)}]`;
    for (const name of [key, value]) {
      if (!name.includes("/")) continue; // a value's short name: its key says where it lives
      const parent = name.split("/")[0] ?? "";
      if (PROJECT_ID.test(parent)) out.push({ kind: "project", field, project: parent });
      else
        out.push({
          kind: "unknown-project",
          field,
          value: name,
          fix: "name the tag by its project, as PROJECT_ID/KEY, for a grant on that project to cover it",
        });
    }
  }
  return out;
}
