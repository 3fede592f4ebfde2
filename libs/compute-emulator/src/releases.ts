import { createHash, randomBytes } from "node:crypto";
import { ComputeFault, invalid } from "./compute-error";

/**
 * What Compute checks and keeps for its release calls on an image: the deprecation status
 * (images.deprecate), labels under their fingerprint (images.setLabels) and the IAM policy under
 * its etag (images.getIamPolicy, setIamPolicy). Pure: the Store holds the state.
 */

export const DEPRECATION_STATES = ["ACTIVE", "DEPRECATED", "OBSOLETE", "DELETED"] as const;
export type DeprecationState = (typeof DEPRECATION_STATES)[number];

export interface Deprecation {
  readonly state: DeprecationState;
  readonly replacement?: string;
  readonly deprecated?: string;
  readonly obsolete?: string;
  readonly deleted?: string;
}

/** A value as an error message quotes it. */
const shown = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));

const DEPRECATION_FIELDS = ["state", "replacement", "deprecated", "obsolete", "deleted"];
const TIMES = ["deprecated", "obsolete", "deleted"] as const;
const IMAGE_REFERENCE =
  /^(?:https:\/\/[^/]+\/compute\/(?:v1|beta|alpha)\/)?projects\/[^/]+\/global\/images\/[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * An images.deprecate body, checked as Compute checks it: undefined for an empty body or state
 * ACTIVE (both clear the status), else the status to store.
 */
export function parseDeprecation(body: unknown): Deprecation | undefined {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw invalid("Invalid JSON payload received. The body must be a DeprecationStatus object.");
  const status = body as Record<string, unknown>;
  for (const key of Object.keys(status))
    if (!DEPRECATION_FIELDS.includes(key))
      throw invalid(`Invalid JSON payload received. Unknown name "${key}": Cannot find field.`);
  if (Object.keys(status).length === 0) return undefined;
  const state = status["state"];
  if (state === undefined)
    throw new ComputeFault(
      400,
      "required",
      "Required field 'deprecationStatus.state' not specified",
    );
  if (typeof state !== "string" || !(DEPRECATION_STATES as readonly string[]).includes(state))
    throw invalid(
      `Invalid value for field 'deprecationStatus.state': '${shown(state)}'. Must be one of ${DEPRECATION_STATES.join(", ")}.`,
    );
  if (state === "ACTIVE") return undefined;
  const replacement = status["replacement"];
  if (
    replacement !== undefined &&
    (typeof replacement !== "string" || !IMAGE_REFERENCE.test(replacement))
  )
    throw invalid(
      `Invalid value for field 'deprecationStatus.replacement': '${shown(replacement)}'. It must name an image: projects/PROJECT/global/images/IMAGE or its URL.`,
    );
  const out: Record<string, string> = { state };
  if (typeof replacement === "string") out["replacement"] = replacement;
  for (const field of TIMES) {
    const value = status[field];
    if (value === undefined) continue;
    if (
      typeof value !== "string" ||
      Number.isNaN(Date.parse(value)) ||
      !/^\d{4}-\d\d-\d\dT/.test(value)
    )
      throw invalid(
        `Invalid value for field 'deprecationStatus.${field}': '${shown(value)}'. It must be an RFC 3339 timestamp.`,
      );
    out[field] = value;
  }
  return out as unknown as Deprecation;
}

/** Whether a family resolves to an image in this state: only to ACTIVE ones (no status). */
export const resolvable = (deprecation: Deprecation | undefined) => deprecation === undefined;
/** Whether new uses (as a source) are refused: OBSOLETE and DELETED. */
export const refusedAsSource = (deprecation: Deprecation | undefined) =>
  deprecation?.state === "OBSOLETE" || deprecation?.state === "DELETED";

/** Compute's fingerprint of an empty label set, as it reports it on every unlabelled resource. */
const EMPTY_LABELS_FINGERPRINT = "42WmSpB8rSM=";

/** The labelFingerprint of a label set: 8 bytes of a digest of its sorted pairs, in base64. */
export function labelFingerprint(labels: Record<string, string> | undefined): string {
  const pairs = Object.entries(labels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (pairs.length === 0) return EMPTY_LABELS_FINGERPRINT;
  return createHash("sha256")
    .update(JSON.stringify(pairs))
    .digest()
    .subarray(0, 8)
    .toString("base64");
}

const LABEL_KEY = /^[a-z][a-z0-9_-]{0,62}$/;
const LABEL_VALUE = /^[a-z0-9_-]{0,63}$/;

/** An images.setLabels body against the image's current labels: the new labels, or 400/412. */
export function parseSetLabels(
  body: unknown,
  current: Record<string, string> | undefined,
): Record<string, string> {
  const request = (typeof body === "object" && body !== null ? body : {}) as Record<
    string,
    unknown
  >;
  const fingerprint = request["labelFingerprint"];
  if (typeof fingerprint !== "string" || fingerprint === "")
    throw new ComputeFault(400, "required", "Required field 'labelFingerprint' not specified");
  if (fingerprint !== labelFingerprint(current))
    throw new ComputeFault(
      412,
      "conditionNotMet",
      "Labels fingerprint either invalid or resource labels have changed",
    );
  const labels = request["labels"] ?? {};
  if (typeof labels !== "object" || Array.isArray(labels))
    throw invalid("Invalid value for field 'labels': it must be a map of strings.");
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(labels)) {
    if (!LABEL_KEY.test(key) || typeof value !== "string" || !LABEL_VALUE.test(value))
      throw invalid(
        `Invalid value for field 'labels': '${key}'. Label keys start with a lowercase letter; keys and values hold lowercase letters, digits, '-' and '_', at most 63 each.`,
      );
    out[key] = value;
  }
  return out;
}

export interface Binding {
  readonly role: string;
  readonly members: readonly string[];
}

export interface IamPolicy {
  readonly version: number;
  readonly etag: string;
  readonly bindings: readonly Binding[];
}

/** The policy of an image nobody has set one on, with IAM's etag for an empty policy. */
export const EMPTY_POLICY: IamPolicy = { version: 1, etag: "ACAB", bindings: [] };

/** The policy as IAM answers it: no `bindings` when there are none. */
export const policyJson = (p: IamPolicy) => ({
  version: p.version,
  etag: p.etag,
  ...(p.bindings.length > 0 && { bindings: p.bindings }),
});

const ROLE = /^(?:roles|(?:projects|organizations)\/[^/]+\/roles)\/[A-Za-z0-9_.]+$/;
const MEMBER =
  /^(?:(?:user|serviceAccount|group|domain|principal|principalSet|deleted:[a-zA-Z]+):\S+|allUsers|allAuthenticatedUsers)$/;

/**
 * An images.setIamPolicy body (`{policy: {bindings, etag, version}}`) against the current policy:
 * the new one with a fresh etag, or 412 when its etag is not the current one (a read-modify-write
 * that lost a race is refused, never merged), or 400 for a role or member IAM would not take.
 */
export function parseSetIamPolicy(body: unknown, current: IamPolicy): IamPolicy {
  const request = (typeof body === "object" && body !== null ? body : {}) as Record<
    string,
    unknown
  >;
  const policy = request["policy"];
  if (typeof policy !== "object" || policy === null)
    throw new ComputeFault(400, "required", "Required field 'policy' not specified");
  const { etag, bindings = [], version = 1 } = policy as Record<string, unknown>;
  if (etag !== undefined && etag !== current.etag)
    throw new ComputeFault(
      412,
      "conditionNotMet",
      "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.",
    );
  if (!Array.isArray(bindings)) throw invalid("Invalid value for field 'policy.bindings'.");
  const byRole = new Map<string, Set<string>>();
  for (const binding of bindings as unknown[]) {
    const { role, members } = (binding ?? {}) as Record<string, unknown>;
    if (typeof role !== "string" || !ROLE.test(role))
      throw invalid(`Invalid value for field 'policy.bindings.role': '${String(role)}'.`);
    if (!Array.isArray(members) || members.length === 0)
      throw invalid(
        `Invalid value for field 'policy.bindings.members': a binding of ${role} needs members.`,
      );
    for (const member of members)
      if (typeof member !== "string" || !MEMBER.test(member))
        throw invalid(
          `Invalid value for field 'policy.bindings.members': '${String(member)}'. Members are user:, serviceAccount:, group:, domain:, allUsers or allAuthenticatedUsers.`,
        );
    const set = byRole.get(role) ?? new Set<string>();
    for (const member of members as string[]) set.add(member);
    byRole.set(role, set);
  }
  return {
    version: typeof version === "number" ? version : 1,
    etag: randomBytes(8).toString("base64"),
    bindings: [...byRole].map(([role, members]) => ({ role, members: [...members].sort() })),
  };
}

/** images.testIamPermissions: the caller (the image's owner here) holds every compute.images one. */
export function heldPermissions(body: unknown): { permissions?: string[] } {
  const asked = ((body ?? {}) as { permissions?: unknown }).permissions;
  if (!Array.isArray(asked)) throw invalid("Invalid value for field 'permissions'.");
  const held = asked.filter(
    (p): p is string => typeof p === "string" && p.startsWith("compute.images."),
  );
  return held.length === 0 ? {} : { permissions: held };
}
