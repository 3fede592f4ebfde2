import { quote } from "./field-violation";
import { isProjectId } from "./project-id";
import { RESOURCE_NAME } from "./resource-name";

/** How Compute's URLs start; `projects/...` follows. */
const COMPUTE_URL = /^https:\/\/(?:www|compute)\.googleapis\.com\/compute\/(?:v1|beta|alpha)\//;
const ZONE = /^[a-z]+(?:-[a-z]+)+[0-9]+-[a-z]$/;
const REGION = /^[a-z]+(?:-[a-z]+)+[0-9]+$/;

/** One segment of a resource path: a literal, or a variable checked by `test`. */
type Segment =
  | string
  | {
      readonly what: string;
      /** How messages write it: `PROJECT`. */
      readonly placeholder: string;
      readonly test: (v: string) => boolean;
    };
const project: Segment = { what: "project id", placeholder: "PROJECT", test: isProjectId };
const zone: Segment = { what: "zone", placeholder: "ZONE", test: (v) => ZONE.test(v) };
const region: Segment = { what: "region", placeholder: "REGION", test: (v) => REGION.test(v) };
const name = (what: string, placeholder: string): Segment => ({
  what,
  placeholder,
  test: (v) => RESOURCE_NAME.test(v),
});

/** A kind of resource reference: the path shapes Compute accepts for it, and how to describe them. */
interface ReferenceKind {
  readonly shapes: readonly (readonly Segment[])[];
  /** What it names, for messages: "a disk". */
  readonly noun: string;
  /** The forms Compute accepts, for messages: every `projects/...` shape, then the first as a URL. */
  readonly forms: string;
}

/**
 * A kind of reference from the paths Compute accepts below `projects/PROJECT/`. Each is accepted
 * without that prefix too (the request's project is meant), unless `projectOnly`.
 */
function referenceKind(
  noun: string,
  paths: readonly (readonly Segment[])[],
  { projectOnly = false } = {},
): ReferenceKind {
  const inProject = paths.map((path) => ["projects", project, ...path]);
  const text = (shape: readonly Segment[]) =>
    shape.map((s) => (typeof s === "string" ? s : s.placeholder)).join("/");
  const listed = inProject.map((shape) => `"${text(shape)}"`).join(", ");
  const url = `"https://compute.googleapis.com/compute/v1/${text(inProject[0] ?? [])}"`;
  return {
    shapes: projectOnly ? inProject : [...inProject, ...paths],
    noun,
    forms: `${listed} or the full URL ${url}`,
  };
}

export const DISK = referenceKind("a disk", [
  ["zones", zone, "disks", name("disk name", "DISK")],
  ["regions", region, "disks", name("disk name", "DISK")],
]);

export const IMAGE = referenceKind("an image", [
  ["global", "images", name("image name", "IMAGE")],
  ["global", "images", "family", name("image family", "FAMILY")],
]);

export const SNAPSHOT = referenceKind("a snapshot", [
  ["global", "snapshots", name("snapshot name", "SNAPSHOT")],
]);

export const LICENSE = referenceKind(
  "a license",
  [["global", "licenses", name("license name", "LICENSE")]],
  { projectOnly: true },
);

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
