import { quote } from "./field-violation";
import { isProjectId } from "./project-id";
import { RESOURCE_NAME } from "./resource-name";

/** How Compute's URLs start; `projects/...` follows. */
const COMPUTE_URL = /^https:\/\/(?:www|compute)\.googleapis\.com\/compute\/(?:v1|beta|alpha)\//;
const ZONE = /^[a-z]+(?:-[a-z]+)+[0-9]+-[a-z]$/;
const REGION = /^[a-z]+(?:-[a-z]+)+[0-9]+$/;

/** One segment of a resource path: a literal, or a variable checked by `test`. */
type Segment = string | { readonly what: string; readonly test: (v: string) => boolean };
const project: Segment = { what: "project id", test: isProjectId };
const name = (what: string): Segment => ({ what, test: (v) => RESOURCE_NAME.test(v) });
const zone: Segment = { what: "zone", test: (v) => ZONE.test(v) };
const region: Segment = { what: "region", test: (v) => REGION.test(v) };

/** A kind of resource reference: the path shapes Compute accepts for it, and how to describe them. */
interface ReferenceKind {
  readonly shapes: readonly (readonly Segment[])[];
  /** What it names, for messages: "a disk". */
  readonly noun: string;
  /** The forms Compute accepts, for messages. */
  readonly forms: string;
}

const shapes = (...list: Segment[][]) => list;

export const DISK: ReferenceKind = {
  shapes: shapes(
    ["projects", project, "zones", zone, "disks", name("disk name")],
    ["projects", project, "regions", region, "disks", name("disk name")],
    ["zones", zone, "disks", name("disk name")],
    ["regions", region, "disks", name("disk name")],
  ),
  noun: "a disk",
  forms:
    '"projects/PROJECT/zones/ZONE/disks/DISK", "zones/ZONE/disks/DISK" or the full URL ' +
    '"https://compute.googleapis.com/compute/v1/projects/PROJECT/zones/ZONE/disks/DISK"',
};

export const IMAGE: ReferenceKind = {
  shapes: shapes(
    ["projects", project, "global", "images", name("image name")],
    ["projects", project, "global", "images", "family", name("image family")],
    ["global", "images", name("image name")],
    ["global", "images", "family", name("image family")],
  ),
  noun: "an image",
  forms:
    '"projects/PROJECT/global/images/IMAGE", "projects/PROJECT/global/images/family/FAMILY" ' +
    'or the full URL "https://compute.googleapis.com/compute/v1/projects/PROJECT/global/images/IMAGE"',
};

export const SNAPSHOT: ReferenceKind = {
  shapes: shapes(
    ["projects", project, "global", "snapshots", name("snapshot name")],
    ["global", "snapshots", name("snapshot name")],
  ),
  noun: "a snapshot",
  forms:
    '"projects/PROJECT/global/snapshots/SNAPSHOT" or the full URL ' +
    '"https://compute.googleapis.com/compute/v1/projects/PROJECT/global/snapshots/SNAPSHOT"',
};

export const LICENSE: ReferenceKind = {
  shapes: shapes(["projects", project, "global", "licenses", name("license name")]),
  noun: "a license",
  forms:
    '"projects/PROJECT/global/licenses/LICENSE" or its full URL ' +
    '"https://compute.googleapis.com/compute/v1/projects/PROJECT/global/licenses/LICENSE"',
};

/**
 * Explains why `value` is not a reference of `kind` that Compute accepts, or returns undefined.
 * A full URL must name the project (`.../projects/P/...`); a partial path may leave it out where
 * Compute fills in the request's project.
 */
export function checkReference(value: string, kind: ReferenceKind): string | undefined {
  const url = COMPUTE_URL.exec(value);
  const path = url ? value.slice(url[0].length) : value;
  const parts = path.split("/");
  let closest: string | undefined;
  for (const shape of kind.shapes) {
    if (url && shape[0] !== "projects") continue;
    if (shape.length !== parts.length) continue;
    const literalsMatch = shape.every((s, i) => typeof s !== "string" || s === parts[i]);
    if (!literalsMatch) continue;
    const bad = shape.findIndex((s, i) => typeof s !== "string" && !s.test(parts[i] ?? ""));
    if (bad === -1) return undefined;
    const segment = shape[bad];
    if (segment !== undefined && typeof segment !== "string")
      closest = `its ${segment.what} ${quote(parts[bad] ?? "")} is not valid`;
  }
  const problem =
    closest === undefined
      ? `${quote(value)} is not a reference to ${kind.noun}`
      : `${quote(value)} names ${kind.noun}, but ${closest}`;
  return `${problem}. Use ${kind.forms}`;
}

/** Cloud KMS key names, with or without a key version. */
const KMS_KEY =
  /^projects\/[^/]+\/locations\/[a-z0-9-]+\/keyRings\/[\w-]{1,63}\/cryptoKeys\/[\w-]{1,63}(?:\/cryptoKeyVersions\/\d+)?$/;

/** Explains why `value` is not a Cloud KMS key name, or returns undefined. */
export function checkKmsKeyName(value: string): string | undefined {
  if (KMS_KEY.test(value)) return undefined;
  return `${quote(value)} is not a Cloud KMS key; use "projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY"`;
}
