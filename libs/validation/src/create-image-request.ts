import { ReleaseMode } from "@imagesvc/proto";
import type { CreateImageRequest, Image } from "@imagesvc/proto";
import { codePoints, quote, type FieldViolation } from "./field-violation";
import { checkRawDiskSource } from "./cloud-storage";
import { checkLabels, OWNERSHIP_LABEL } from "./labels";
import { checkProjectId } from "./project-id";
import { checkRequestId } from "./request-id";
import { validateNotification, validateWebhookUrl } from "./notification";
import { checkResourceName } from "./resource-name";
import { DISK, IMAGE, LICENSE, SNAPSHOT, checkReference } from "./resource-path";
import { validateImageExtras } from "./image-extras";

/** Compute's `guestOsFeatures[].type` values. */
export const GUEST_OS_FEATURE_TYPES: readonly string[] = [
  "BARE_METAL_LINUX_COMPATIBLE",
  "GVNIC",
  "IDPF",
  "MULTI_IP_SUBNET",
  "SECURE_BOOT",
  "SEV_CAPABLE",
  "SEV_LIVE_MIGRATABLE",
  "SEV_LIVE_MIGRATABLE_V2",
  "SEV_SNP_CAPABLE",
  "SNP_SVSM_CAPABLE",
  "TDX_CAPABLE",
  "UEFI_COMPATIBLE",
  "VIRTIO_SCSI_MULTIQUEUE",
  "WINDOWS",
];
export const ARCHITECTURES: readonly string[] = ["ARM64", "X86_64"];
/**
 * Bounds on what one request may carry. Compute documents none of these; they are the service's
 * own, set well above real use, so that a caller cannot store megabytes in Redis per request.
 */
export const LIMITS = {
  /** Characters of `image.description`. */
  description: 2048,
  /** Entries of `image.licenses`, and characters of each. */
  licenses: 16,
  licenseLength: 512,
  /** Entries of `image.guest_os_features`: each type at most once. */
  guestOsFeatures: GUEST_OS_FEATURE_TYPES.length,
} as const;
/** A multi-region (`us`, `eu`, `asia`) or a region (`us-central1`). */
const STORAGE_LOCATION = /^[a-z]+(?:(?:-[a-z]+)+[0-9]+)?$/;
const SHA1 = /^[a-f0-9]{40}$/;

/** The four fields that name an image's source; exactly one must be set. */
const SOURCES = [
  ["image.raw_disk.source", (i: Image) => i.rawDisk?.source ?? ""],
  ["image.source_disk", (i: Image) => i.sourceDisk],
  ["image.source_image", (i: Image) => i.sourceImage],
  ["image.source_snapshot", (i: Image) => i.sourceSnapshot],
] as const;

/**
 * Checks a CreateImageRequest against Compute's rules for `images.insert` and returns every
 * violation at once, in field order, each at its own field path. An empty list means valid.
 *
 * Pure and synchronous: the gateway runs it before anything touches Redis, and the CLI before
 * any network call, so both report the same problems in the same words.
 */
export function validateCreateImageRequest(req: CreateImageRequest): FieldViolation[] {
  const out: FieldViolation[] = [];
  const check = (field: string, problem: string | undefined) => {
    if (problem !== undefined) out.push({ field, description: problem });
  };

  check("project", checkProjectId(req.project));
  const image = req.image;
  if (image === undefined) {
    out.push({
      field: "image",
      description: "is required: the image to create, with a name and exactly one source",
    });
  } else {
    out.push(...validateImage(image));
  }
  if (req.requestId !== "") check("request_id", checkRequestId(req.requestId));
  if (req.notification !== undefined) out.push(...validateNotification(req.notification));
  if (req.releaseCheckUrl !== "") {
    const field = "release_check_url";
    out.push(
      ...validateWebhookUrl(field, req.releaseCheckUrl, "https://ci.example.com/checks/web"),
    );
    if (req.release !== ReleaseMode.PROMOTE_WHEN_READY)
      out.push({
        field,
        description:
          "is a check before the promotion, and goes with release RELEASE_MODE_PROMOTE_WHEN_READY; set that, or leave the URL empty",
      });
  }
  if (req.release !== ReleaseMode.UNSPECIFIED && image !== undefined) {
    // Created DEPRECATED, then promoted: a promotion needs a family, and the state is the mode's.
    if (image.family === "")
      out.push({
        field: "image.family",
        description:
          "is required with release: the image is promoted to be what its family resolves to; set the family, or leave release unset",
      });
    const state = image.deprecated?.state ?? "";
    if (state !== "" && state !== "DEPRECATED")
      out.push({
        field: "image.deprecated.state",
        description: `is ${state}, and release creates the image DEPRECATED until it is promoted; leave the state empty, or leave release unset`,
      });
  }
  return out;
}

function validateImage(image: Image): FieldViolation[] {
  const out: FieldViolation[] = [];
  const check = (field: string, problem: string | undefined) => {
    if (problem !== undefined) out.push({ field, description: problem });
  };

  check("image.name", checkResourceName(image.name, "image name", "web-2026-11-27"));
  if (image.family !== "") check("image.family", checkResourceName(image.family, "family", "web"));
  const descriptionLength = codePoints(image.description).length;
  if (descriptionLength > LIMITS.description) {
    check(
      "image.description",
      `is ${descriptionLength} characters long; at most ${LIMITS.description} are accepted`,
    );
  }
  out.push(...checkLabels("image.labels", image.labels, [OWNERSHIP_LABEL]));

  const set = SOURCES.filter(([, get]) => get(image) !== "").map(([field]) => field);
  if (set.length === 0) {
    out.push({
      field: "image.raw_disk.source",
      description:
        "no source is set. Set exactly one of image.raw_disk.source (a Cloud Storage URL of a .tar.gz " +
        "archive), image.source_disk, image.source_image or image.source_snapshot",
    });
  } else if (set.length > 1) {
    for (const field of set) {
      const others = set.filter((f) => f !== field).join(", ");
      out.push({
        field,
        description: `conflicts with ${others}: an image has exactly one source; keep one of them`,
      });
    }
  }

  const rawDisk = image.rawDisk;
  if (rawDisk !== undefined) {
    if (rawDisk.source !== "") check("image.raw_disk.source", checkRawDiskSource(rawDisk.source));
    if (rawDisk.containerType !== "" && rawDisk.containerType !== "TAR") {
      check(
        "image.raw_disk.container_type",
        `${quote(rawDisk.containerType)} is not supported; the only container type is "TAR" (or leave it empty)`,
      );
    }
    if (rawDisk.sha1Checksum !== "" && !SHA1.test(rawDisk.sha1Checksum)) {
      check(
        "image.raw_disk.sha1_checksum",
        `${quote(rawDisk.sha1Checksum)} is not a SHA-1 digest; use 40 lowercase hex digits`,
      );
    }
  }
  if (image.sourceDisk !== "") check("image.source_disk", checkReference(image.sourceDisk, DISK));
  if (image.sourceImage !== "")
    check("image.source_image", checkReference(image.sourceImage, IMAGE));
  if (image.sourceSnapshot !== "")
    check("image.source_snapshot", checkReference(image.sourceSnapshot, SNAPSHOT));

  if (image.storageLocations.length > 1) {
    check(
      "image.storage_locations",
      `has ${image.storageLocations.length} locations; Compute stores an image in at most one`,
    );
  }
  image.storageLocations.forEach((location, i) => {
    if (!STORAGE_LOCATION.test(location)) {
      check(
        `image.storage_locations[${i}]`,
        `${quote(location)} is not a location; use a multi-region such as "us" or "eu", or a region such as "us-central1"`,
      );
    }
  });
  if (image.guestOsFeatures.length > LIMITS.guestOsFeatures) {
    check(
      "image.guest_os_features",
      `has ${image.guestOsFeatures.length} entries; there are ${LIMITS.guestOsFeatures} feature types, each at most once`,
    );
  }
  const seenFeatures = new Set<string>();
  image.guestOsFeatures.slice(0, LIMITS.guestOsFeatures).forEach((feature, i) => {
    if (seenFeatures.has(feature.type)) {
      check(
        `image.guest_os_features[${i}].type`,
        `${quote(feature.type)} is listed twice; list each feature once`,
      );
      return;
    }
    seenFeatures.add(feature.type);
    if (!GUEST_OS_FEATURE_TYPES.includes(feature.type)) {
      check(
        `image.guest_os_features[${i}].type`,
        `${quote(feature.type)} is not a guest OS feature; use one of ${GUEST_OS_FEATURE_TYPES.join(", ")}`,
      );
    }
  });
  if (image.licenses.length > LIMITS.licenses) {
    check(
      "image.licenses",
      `has ${image.licenses.length} licenses; at most ${LIMITS.licenses} are accepted`,
    );
  }
  image.licenses.slice(0, LIMITS.licenses).forEach((license, i) => {
    check(
      `image.licenses[${i}]`,
      license.length > LIMITS.licenseLength
        ? `is ${license.length} characters long; a license reference is at most ${LIMITS.licenseLength}`
        : checkReference(license, LICENSE),
    );
  });
  if (image.architecture !== "" && !ARCHITECTURES.includes(image.architecture)) {
    check(
      "image.architecture",
      `${quote(image.architecture)} is not an architecture; use "ARM64" or "X86_64", or leave it empty`,
    );
  }
  if (image.diskSizeGb < 0n) {
    check(
      "image.disk_size_gb",
      `is ${image.diskSizeGb}; it must be a positive number of GB (or 0 to use the source's size)`,
    );
  }

  validateImageExtras(image, check);
  return out;
}
