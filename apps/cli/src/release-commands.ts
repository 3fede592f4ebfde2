// `images promote | rollback | deprecate | retention | share | family`: the release calls.
import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import type { Client } from "@connectrpc/connect";
import {
  DeprecateImageRequestSchema,
  Operation_Status,
  PromoteImageRequestSchema,
  RollbackFamilyRequestSchema,
  SetFamilyPolicyRequestSchema,
  ShareImageRequestSchema,
  type Family,
  type ImageService,
  type Operation,
} from "@imagesvc/proto";
import {
  validateDeprecateImageRequest,
  validatePromoteImageRequest,
  validateRollbackFamilyRequest,
  validateSetFamilyPolicyRequest,
  validateShareImageRequest,
  type FieldViolation,
} from "@imagesvc/validation";
import { Option, type Command } from "commander";
import { notificationFromFlags, UsageError } from "./create-request";
import { EXIT } from "./exit-codes";
import { ndjson } from "./output";

export interface ReleaseContext {
  client(): Client<typeof ImageService>;
  /**
   * Follows an operation to DONE with live progress; resolves with the exit code. Given `from`
   * (the operation just accepted), it says so once Ctrl-C is handled.
   */
  follow(project: string, operation: string, from?: Operation): Promise<number>;
  json(): boolean;
  projectOption(): Option;
}

interface Common {
  readonly project: string;
  readonly requestId?: string;
  readonly notify?: string;
  readonly notifyOn?: string;
  readonly async?: boolean;
}

const UNITS: Readonly<Record<string, number>> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

/** `30d`, `12h`, `90m`, `45s`, `2w`, `1.5d` → ms; a UsageError naming the flag otherwise. */
export function parseDuration(flag: string, value: string): number {
  const m = /^(\d+(?:\.\d+)?)([smhdw])$/.exec(value.trim());
  const unit = m === null ? undefined : UNITS[m[2] ?? ""];
  if (m === null || unit === undefined || Number(m[1]) <= 0)
    throw new UsageError(
      `${flag}: "${value}" is not a duration; use a number and a unit, e.g. 30d, 12h, 90m, 45s or 2w`,
    );
  return Math.round(Number(m[1]) * unit);
}

/** An RFC 3339 time; a UsageError naming the flag otherwise. */
function parseTime(flag: string, value: string): number {
  const ms = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(ms))
    throw new UsageError(
      `${flag}: "${value}" is not an RFC 3339 time, e.g. 2027-01-31T00:00:00Z (or use ${flag.replace("-at", "-in")} 30d)`,
    );
  return ms;
}

/** Each violation with the flag it came from, and nothing sent. */
function refuse(violations: readonly FieldViolation[], flags: Readonly<Record<string, string>>) {
  process.stderr.write("ERROR: the request is invalid; nothing was sent:\n");
  for (const v of violations) {
    const flag = flags[v.field.replace(/\[\d+\]$/, "")] ?? COMMON_FLAGS[v.field];
    process.stderr.write(
      ` - ${v.field}${flag === undefined ? "" : ` (${flag})`}: ${v.description}\n`,
    );
  }
  process.exitCode = EXIT.usage;
}

const COMMON_FLAGS: Readonly<Record<string, string>> = {
  project: "--project",
  request_id: "--request-id",
  "notification.url": "--notify",
};

function withCommonFlags(command: Command, ctx: ReleaseContext): Command {
  return command
    .addOption(ctx.projectOption())
    .option("--request-id <uuid>", "makes retries of this command safe: the same id acts once")
    .option("--notify <url>", "a webhook the service calls, signed, as the operation moves")
    .option("--notify-on <statuses>", "RUNNING, DONE (the default) or RUNNING,DONE")
    .option("--async", "print the operation and return without waiting");
}

/**
 * Refuses a request that has violations, each with the flag it came from; sends any other and
 * follows its operation.
 */
async function submit(
  ctx: ReleaseContext,
  flags: Common,
  violations: readonly FieldViolation[],
  flagOf: Readonly<Record<string, string>>,
  send: () => Promise<Operation>,
) {
  if (violations.length > 0) refuse(violations, flagOf);
  else await run(ctx, flags, send);
}

/** Sends the request, then prints the operation (--async) or follows it to DONE. */
async function run(ctx: ReleaseContext, flags: Common, send: () => Promise<Operation>) {
  const op = await send();
  if (flags.async === true || op.status === Operation_Status.DONE) {
    process.stdout.write(ctx.json() ? ndjson(op) : `${op.name}\n`);
    if (op.status === Operation_Status.DONE && !ctx.json())
      process.stderr.write(`${op.statusMessage}\n`);
    return;
  }
  process.exitCode = await ctx.follow(op.project, op.name, op);
}

const common = (flags: Common) => {
  const notification = notificationFromFlags(flags);
  return {
    project: flags.project,
    requestId: flags.requestId ?? "",
    ...(notification !== undefined && { notification }),
  };
};

export function addReleaseCommands(program: Command, ctx: ReleaseContext): void {
  withCommonFlags(
    program
      .command("promote")
      .description(
        "Make an image what its family resolves to; every other ACTIVE image of the family becomes DEPRECATED, replaced by it",
      )
      .argument("<image>", "the image (READY, in a family)"),
    ctx,
  ).action(async (image: string, flags: Common) => {
    const request = create(PromoteImageRequestSchema, { ...common(flags), image });
    await submit(ctx, flags, validatePromoteImageRequest(request), { image: "IMAGE" }, () =>
      ctx.client().promoteImage(request),
    );
  });

  withCommonFlags(
    program
      .command("rollback")
      .description(
        "Go back one image: the family's current image becomes DEPRECATED (or OBSOLETE), and the one before it ACTIVE",
      )
      .argument("<family>", "the image family")
      .option("--to <image>", "the image to go back to (default: the newest before the current)")
      .option("--obsolete", "make the image rolled back from OBSOLETE rather than DEPRECATED"),
    ctx,
  ).action(async (family: string, flags: Common & { to?: string; obsolete?: boolean }) => {
    const request = create(RollbackFamilyRequestSchema, {
      ...common(flags),
      family,
      toImage: flags.to ?? "",
      obsolete: flags.obsolete === true,
    });
    await submit(
      ctx,
      flags,
      validateRollbackFamilyRequest(request),
      { family: "FAMILY", to_image: "--to" },
      () => ctx.client().rollbackFamily(request),
    );
  });

  const deprecate = withCommonFlags(
    program
      .command("deprecate")
      .description(
        "Set an image's deprecation state now, and schedule its moves to DEPRECATED, OBSOLETE and DELETED: the service enacts them and writes the dates on the image",
      )
      .argument("<image>", "the image")
      .addOption(
        new Option(
          "--state <state>",
          "the state now (default: DEPRECATED, or ACTIVE with --deprecate-in/--deprecate-at)",
        ).choices(["ACTIVE", "DEPRECATED", "OBSOLETE", "DELETED"]),
      )
      .option("--replacement <image>", "the image that replaces it"),
    ctx,
  );
  for (const step of ["deprecate", "obsolete", "delete"] as const)
    deprecate
      .option(`--${step}-in <duration>`, `become ${stateOf(step)} after this long, e.g. 30d`)
      .option(`--${step}-at <rfc3339>`, `become ${stateOf(step)} at this time`);
  deprecate.action(async (image: string, flags: Common & DeprecateFlags) => {
    const now = Date.now();
    const at = (step: "deprecate" | "obsolete" | "delete") => {
      const inFlag = flags[`${step}In`];
      const atFlag = flags[`${step}At`];
      if (inFlag !== undefined && atFlag !== undefined)
        throw new UsageError(`--${step}-in and --${step}-at: give one of them`);
      if (inFlag !== undefined) return now + parseDuration(`--${step}-in`, inFlag);
      if (atFlag !== undefined) return parseTime(`--${step}-at`, atFlag);
      return undefined;
    };
    const times = { deprecate: at("deprecate"), obsolete: at("obsolete"), delete: at("delete") };
    const state = flags.state ?? (times.deprecate === undefined ? "DEPRECATED" : "");
    const request = create(DeprecateImageRequestSchema, {
      ...common(flags),
      image,
      state,
      replacement: flags.replacement ?? "",
      ...(times.deprecate !== undefined && { deprecateTime: timestampFromMs(times.deprecate) }),
      ...(times.obsolete !== undefined && { obsoleteTime: timestampFromMs(times.obsolete) }),
      ...(times.delete !== undefined && { deleteTime: timestampFromMs(times.delete) }),
    });
    await submit(
      ctx,
      flags,
      validateDeprecateImageRequest(request),
      {
        image: "IMAGE",
        state: "--state",
        replacement: "--replacement",
        deprecate_time: "--deprecate-in/--deprecate-at",
        obsolete_time: "--obsolete-in/--obsolete-at",
        delete_time: "--delete-in/--delete-at",
      },
      () => ctx.client().deprecateImage(request),
    );
  });

  program
    .command("retention")
    .description(
      "Set a family's retention policy, which the service enacts: keep the newest N, deprecate old images, delete obsolete ones; never the current image or one labelled with the exclusion label",
    )
    .argument("<family>", "the image family")
    .addOption(ctx.projectOption())
    .option(
      "--keep-newest <n>",
      "keep the newest N READY images (the current one among them); delete older ones",
    )
    .option(
      "--deprecate-after <duration>",
      "deprecate an image this long after its creation, e.g. 30d",
    )
    .option(
      "--delete-after <duration>",
      "delete an image this long after it became OBSOLETE, e.g. 90d",
    )
    .option(
      "--exclusion-label <key>",
      "images with this label key are left alone (default imagesvc-keep)",
    )
    .option("--clear", "remove the family's policy")
    .option("--request-id <uuid>", "makes retries of this command safe")
    .action(async (family: string, flags: RetentionFlags) => {
      const wants =
        flags.keepNewest !== undefined ||
        flags.deprecateAfter !== undefined ||
        flags.deleteAfter !== undefined;
      if (flags.clear === true && wants)
        throw new UsageError("--clear removes the policy: give it alone, without policy flags");
      if (flags.clear !== true && !wants)
        throw new UsageError(
          "give --keep-newest, --deprecate-after or --delete-after (or --clear to remove the family's policy)",
        );
      const keep = flags.keepNewest === undefined ? 0 : Number(flags.keepNewest);
      if (!Number.isInteger(keep) || keep < 0)
        throw new UsageError(
          `--keep-newest: "${flags.keepNewest ?? ""}" is not a whole number; give how many images to keep, e.g. --keep-newest 5`,
        );
      if (keep === 0 && flags.deprecateAfter === undefined && flags.deleteAfter === undefined)
        throw new UsageError(
          "--keep-newest 0 limits nothing: give a count of 1 or more, or --deprecate-after/--delete-after (or --clear to remove the policy)",
        );
      const request = create(SetFamilyPolicyRequestSchema, {
        project: flags.project,
        family,
        requestId: flags.requestId ?? "",
        ...(flags.clear !== true && {
          policy: {
            keepNewest: keep,
            ...(flags.deprecateAfter !== undefined && {
              deprecateAfter: durationFromMs(
                parseDuration("--deprecate-after", flags.deprecateAfter),
              ),
            }),
            ...(flags.deleteAfter !== undefined && {
              deleteAfter: durationFromMs(parseDuration("--delete-after", flags.deleteAfter)),
            }),
            exclusionLabel: flags.exclusionLabel ?? "",
          },
        }),
      });
      const violations = validateSetFamilyPolicyRequest(request);
      if (violations.length > 0) {
        refuse(violations, {
          family: "FAMILY",
          "policy.keep_newest": "--keep-newest",
          "policy.deprecate_after": "--deprecate-after",
          "policy.delete_after": "--delete-after",
          "policy.exclusion_label": "--exclusion-label",
        });
        return;
      }
      const op = await ctx.client().setFamilyPolicy(request);
      process.stdout.write(ctx.json() ? ndjson(op) : `${op.statusMessage}\n`);
    });

  withCommonFlags(
    program
      .command("share")
      .description(
        "Grant a role on an image (roles/compute.imageUser by default: boot it) to members, through its IAM policy, keeping every other change",
      )
      .argument("<image>", "the image")
      .option(
        "--member <member>",
        "an IAM member, e.g. serviceAccount:boot@other.iam.gserviceaccount.com (repeat for more)",
        (v: string, prev: string[]) => [...prev, v],
        [] as string[],
      )
      .option("--role <role>", "the role (default roles/compute.imageUser)"),
    ctx,
  ).action(async (image: string, flags: Common & { member: string[]; role?: string }) => {
    const request = create(ShareImageRequestSchema, {
      ...common(flags),
      image,
      members: flags.member,
      role: flags.role ?? "",
    });
    await submit(
      ctx,
      flags,
      validateShareImageRequest(request),
      { image: "IMAGE", members: "--member", role: "--role" },
      () => ctx.client().shareImage(request),
    );
  });

  program
    .command("family")
    .description(
      "Show what a family resolves to, its images with their states and schedules, and its policy",
    )
    .argument("<family>", "the image family")
    .addOption(ctx.projectOption())
    .action(async (family: string, flags: { project: string }) => {
      const f = await ctx.client().getFamily({ project: flags.project, family });
      if (ctx.json()) {
        process.stdout.write(`${JSON.stringify(familyJson(f))}\n`);
        return;
      }
      process.stdout.write(familyText(f));
    });
}

interface DeprecateFlags {
  readonly state?: string;
  readonly replacement?: string;
  readonly deprecateIn?: string;
  readonly deprecateAt?: string;
  readonly obsoleteIn?: string;
  readonly obsoleteAt?: string;
  readonly deleteIn?: string;
  readonly deleteAt?: string;
}

interface RetentionFlags {
  readonly project: string;
  readonly keepNewest?: string;
  readonly deprecateAfter?: string;
  readonly deleteAfter?: string;
  readonly exclusionLabel?: string;
  readonly clear?: boolean;
  readonly requestId?: string;
}

const stateOf = (step: "deprecate" | "obsolete" | "delete") =>
  step === "deprecate" ? "DEPRECATED" : step === "obsolete" ? "OBSOLETE" : "DELETED";

function familyJson(f: Family) {
  return {
    name: f.name,
    resolvesTo: f.resolvesTo,
    images: f.images.map((i) => ({
      name: i.name,
      status: i.status,
      state: i.deprecated?.state === "" ? "ACTIVE" : (i.deprecated?.state ?? "ACTIVE"),
      creationTimestamp: i.creationTimestamp,
      schedule: i.schedule.map((s) => ({
        state: s.state,
        time: s.time === undefined ? "" : new Date(timestampMs(s.time)).toISOString(),
      })),
    })),
  };
}

/** The family as a table: what it resolves to, then each image, newest first. */
export function familyText(f: Family): string {
  const rows = familyJson(f).images;
  const width = Math.max(5, ...rows.map((r) => r.name.length));
  const lines = [
    `${f.name} resolves to ${f.resolvesTo === "" ? "nothing (no READY ACTIVE image)" : f.resolvesTo}`,
    `${"IMAGE".padEnd(width)}  ${"STATUS".padEnd(8)}  ${"STATE".padEnd(10)}  CREATED               SCHEDULED`,
    ...rows.map(
      (r) =>
        `${r.name.padEnd(width)}  ${r.status.padEnd(8)}  ${r.state.padEnd(10)}  ${r.creationTimestamp.slice(0, 19).padEnd(20)}  ${r.schedule.map((s) => `${s.state} at ${s.time}`).join(", ")}`,
    ),
  ];
  const p = f.policy;
  if (p !== undefined) {
    const parts = [
      p.keepNewest > 0 ? `keep newest ${p.keepNewest}` : "",
      p.deprecateAfter !== undefined
        ? `deprecate after ${Number(p.deprecateAfter.seconds) / 86_400}d`
        : "",
      p.deleteAfter !== undefined
        ? `delete ${Number(p.deleteAfter.seconds) / 86_400}d after OBSOLETE`
        : "",
      `except label ${p.exclusionLabel}`,
    ].filter((s) => s !== "");
    lines.push(`retention: ${parts.join(", ")}`);
  }
  return `${lines.join("\n")}\n`;
}
