import { timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import type {
  DeprecateImageRequest,
  Notification,
  PromoteImageRequest,
  RollbackFamilyRequest,
  SetFamilyPolicyRequest,
  ShareImageRequest,
} from "@imagesvc/proto";
import { quote, type FieldViolation } from "./field-violation";
import { validateNotification } from "./notification";
import { checkProjectId } from "./project-id";
import { checkRequestId } from "./request-id";
import { checkResourceName } from "./resource-name";

/**
 * The release requests' shapes (PromoteImage, RollbackFamily, DeprecateImage, SetFamilyPolicy,
 * ShareImage): every violation at once, each naming its field and the fix, as
 * `validateCreateImageRequest` does. Pure; the gateway adds what needs the deployment (the
 * webhook's host), and applies a time already past now.
 */

/** Compute's deprecation states, in the order an image moves through them. */
export const DEPRECATION_STATES = ["ACTIVE", "DEPRECATED", "OBSOLETE", "DELETED"] as const;
/** The role ShareImage grants when none is named: it lets the members boot the image. */
export const DEFAULT_SHARE_ROLE = "roles/compute.imageUser";
/** The label key that keeps an image out of its family's retention, unless the policy names one. */
export const DEFAULT_EXCLUSION_LABEL = "imagesvc-keep";

export const RELEASE_LIMITS = {
  /** Members ShareImage takes in one call. */
  members: 100,
  /** The largest `keep_newest`. */
  keepNewest: 1000,
} as const;

/** IAM member forms Compute accepts in an image's policy. */
const MEMBER = /^(user|serviceAccount|group|domain|principal|principalSet):[^\s]{1,300}$/;
const ROLE =
  /^(roles\/[a-zA-Z0-9_.]{1,100}|(projects|organizations)\/[a-z0-9.:-]{1,100}\/roles\/[a-zA-Z0-9_.]{1,64})$/;

interface Common {
  readonly project: string;
  readonly requestId: string;
  readonly notification?: Notification | undefined;
}

function common(req: Common): FieldViolation[] {
  const out: FieldViolation[] = [];
  const project = checkProjectId(req.project);
  if (project !== undefined) out.push({ field: "project", description: project });
  if (req.requestId !== "") {
    const id = checkRequestId(req.requestId);
    if (id !== undefined) out.push({ field: "request_id", description: id });
  }
  if (req.notification !== undefined) out.push(...validateNotification(req.notification));
  return out;
}

function name(out: FieldViolation[], field: string, value: string, what: string, example: string) {
  const problem = checkResourceName(value, what, example);
  if (problem !== undefined) out.push({ field, description: problem });
}

export function validatePromoteImageRequest(req: PromoteImageRequest): FieldViolation[] {
  const out = common(req);
  name(out, "image", req.image, "image name", "web-20261204");
  return out;
}

export function validateRollbackFamilyRequest(req: RollbackFamilyRequest): FieldViolation[] {
  const out = common(req);
  name(out, "family", req.family, "family", "web");
  if (req.toImage !== "") name(out, "to_image", req.toImage, "image name", "web-20261201");
  return out;
}

const TIMES = [
  ["deprecate_time", "DEPRECATED"],
  ["obsolete_time", "OBSOLETE"],
  ["delete_time", "DELETED"],
] as const;

/** The request's times by state, in ms since epoch; undefined where unset. */
export function deprecationTimes(req: DeprecateImageRequest): {
  DEPRECATED?: number;
  OBSOLETE?: number;
  DELETED?: number;
} {
  const at = (t: Timestamp | undefined) => (t === undefined ? undefined : timestampMs(t));
  return Object.fromEntries(
    [
      ["DEPRECATED", at(req.deprecateTime)],
      ["OBSOLETE", at(req.obsoleteTime)],
      ["DELETED", at(req.deleteTime)],
    ].filter(([, v]) => v !== undefined),
  ) as { DEPRECATED?: number; OBSOLETE?: number; DELETED?: number };
}

export function validateDeprecateImageRequest(req: DeprecateImageRequest): FieldViolation[] {
  const out = common(req);
  name(out, "image", req.image, "image name", "web-20261201");
  if (req.replacement !== "") {
    name(out, "replacement", req.replacement, "image name", "web-20261204");
    if (req.replacement === req.image)
      out.push({
        field: "replacement",
        description: "names the image itself; name the image that replaces it",
      });
  }
  const hasTimes = TIMES.some(([field]) => timeOf(req, field) !== undefined);
  if (req.state !== "" && !(DEPRECATION_STATES as readonly string[]).includes(req.state))
    out.push({
      field: "state",
      description: `${quote(req.state)} is not a deprecation state; use one of ${DEPRECATION_STATES.join(", ")}`,
    });
  else if (req.state === "" && !hasTimes)
    out.push({
      field: "state",
      description: `is required without a schedule: one of ${DEPRECATION_STATES.join(", ")}, or give deprecate_time, obsolete_time or delete_time`,
    });
  let previous: { field: string; ms: number } | undefined;
  for (const [field, state] of TIMES) {
    const t = timeOf(req, field);
    if (t === undefined) continue;
    if (t.nanos < 0 || t.nanos > 999_999_999 || t.seconds < 0n || t.seconds > 253402300799n) {
      out.push({
        field,
        description:
          "is not a time between 1970 and 9999: give seconds since 1970 and nanos 0-999999999 (in JSON, RFC 3339 such as 2027-01-31T00:00:00Z)",
      });
      continue;
    }
    const ms = timestampMs(t);
    if (previous !== undefined && ms < previous.ms)
      out.push({
        field,
        description: `comes before ${previous.field}; an image becomes DEPRECATED, then OBSOLETE, then DELETED`,
      });
    previous = { field, ms };
    // A state set now that is already past a scheduled one leaves that step nothing to do.
    const order = DEPRECATION_STATES.indexOf(req.state as (typeof DEPRECATION_STATES)[number]);
    if (order >= DEPRECATION_STATES.indexOf(state))
      out.push({
        field,
        description: `is a move to ${state}, and state ${req.state} is already there or past it; drop ${field} or choose an earlier state`,
      });
  }
  return out;
}

function timeOf(req: DeprecateImageRequest, field: (typeof TIMES)[number][0]) {
  return field === "deprecate_time"
    ? req.deprecateTime
    : field === "obsolete_time"
      ? req.obsoleteTime
      : req.deleteTime;
}

export function validateSetFamilyPolicyRequest(req: SetFamilyPolicyRequest): FieldViolation[] {
  const out = common({ ...req, notification: undefined });
  name(out, "family", req.family, "family", "web");
  const policy = req.policy;
  if (policy === undefined) return out;
  if (policy.keepNewest > RELEASE_LIMITS.keepNewest)
    out.push({
      field: "policy.keep_newest",
      description: `is ${policy.keepNewest}; at most ${RELEASE_LIMITS.keepNewest} (0 for no count limit)`,
    });
  for (const [field, d] of [
    ["policy.deprecate_after", policy.deprecateAfter],
    ["policy.delete_after", policy.deleteAfter],
  ] as const) {
    if (d === undefined) continue;
    if (d.seconds < 0n || d.nanos < 0)
      out.push({ field, description: "is negative; give a duration such as 30 days (2592000s)" });
    else if (d.seconds === 0n && d.nanos === 0)
      out.push({ field, description: "is zero; leave it unset for never" });
  }
  if (
    policy.keepNewest === 0 &&
    policy.deprecateAfter === undefined &&
    policy.deleteAfter === undefined
  )
    out.push({
      field: "policy",
      description:
        "asks nothing: set keep_newest, deprecate_after or delete_after, or leave policy unset to remove the family's policy",
    });
  if (policy.exclusionLabel !== "" && !/^[a-z][-_a-z0-9]{0,62}$/.test(policy.exclusionLabel))
    out.push({
      field: "policy.exclusion_label",
      description: `${quote(policy.exclusionLabel)} is not a label key: 1-63 lowercase letters, digits, - or _, starting with a letter`,
    });
  return out;
}

export function validateShareImageRequest(req: ShareImageRequest): FieldViolation[] {
  const out = common(req);
  name(out, "image", req.image, "image name", "web-20261204");
  if (req.members.length === 0)
    out.push({
      field: "members",
      description:
        'is required: the IAM members to share with, e.g. "serviceAccount:boot@other-project.iam.gserviceaccount.com"',
    });
  if (req.members.length > RELEASE_LIMITS.members)
    out.push({
      field: "members",
      description: `has ${req.members.length} members; at most ${RELEASE_LIMITS.members} per call`,
    });
  req.members.slice(0, RELEASE_LIMITS.members).forEach((m, i) => {
    if (m === "allUsers" || m === "allAuthenticatedUsers")
      out.push({
        field: `members[${i}]`,
        description: `${m} would make the image public; the service shares images with named members, projects' service accounts, groups or domains only`,
      });
    else if (!MEMBER.test(m))
      out.push({
        field: `members[${i}]`,
        description: `${quote(m)} is not an IAM member; use e.g. "user:ana@example.com", "serviceAccount:ci@p.iam.gserviceaccount.com", "group:…" or "domain:example.com"`,
      });
  });
  if (req.role !== "" && !ROLE.test(req.role))
    out.push({
      field: "role",
      description: `${quote(req.role)} is not a role; use e.g. "${DEFAULT_SHARE_ROLE}" (or leave it empty for that)`,
    });
  return out;
}
