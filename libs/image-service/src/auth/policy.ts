import { readFileSync } from "node:fs";

/**
 * What a grant allows in its projects:
 * - `create`: CreateImage with the project as the target;
 * - `read`: Get, List, Watch and Wait on the project's operations;
 * - `cancel`: CancelOperation;
 * - `use`: name the project's resources in a request for another project: a source disk, image
 *   or snapshot, a license, a KMS key, a service account. The service reads them with its own
 *   credentials, so without this grant a caller could copy another team's disk into its own
 *   project, or attach another team's license;
 * - `release`: change what the project's images are to their users: PromoteImage,
 *   RollbackFamily, DeprecateImage, SetFamilyPolicy and ShareImage (creating an image does not
 *   give the right to make every instance of its family boot it).
 */
export type Action = "create" | "read" | "cancel" | "use" | "release";
const ACTIONS: readonly Action[] = ["create", "read", "cancel", "use", "release"];

interface Grant {
  readonly projects: ReadonlySet<string>;
  readonly actions: ReadonlySet<Action>;
  /** Buckets raw disks may be imported from into these projects; empty grants none. */
  readonly buckets: ReadonlySet<string>;
}

/**
 * The policy file: `{"grants": [{"principal": "ci@builds", "projects": ["my-project"], "actions":
 * ["create", "read", "cancel", "use"], "buckets": ["ci-images"]}, …]}`. `"*"` in `projects` or
 * `buckets` grants every one; the principal `"*"` is everyone. Anything not granted is denied: a
 * grant without `buckets` lets its principal import raw disks from no bucket.
 */
export class Policy {
  private constructor(private readonly grants: ReadonlyMap<string, readonly Grant[]>) {}

  /** Everyone may do everything: AUTH_MODE=none, for local use only. */
  static allowAll(): Policy {
    return new Policy(
      new Map([
        ["*", [{ projects: new Set(["*"]), actions: new Set(ACTIONS), buckets: new Set(["*"]) }]],
      ]),
    );
  }

  static load(path: string): Policy {
    let parsed: { grants?: unknown };
    try {
      parsed = JSON.parse(readFileSync(path, "utf8")) as { grants?: unknown };
    } catch (e) {
      throw new Error(`policy file ${path}: ${(e as Error).message}`);
    }
    if (!Array.isArray(parsed.grants))
      throw new Error(`policy file ${path}: expected {"grants": [...]}`);
    const grants = new Map<string, Grant[]>();
    const strings = (v: unknown): v is string[] =>
      Array.isArray(v) && v.every((p) => typeof p === "string");
    parsed.grants.forEach((raw: unknown, i) => {
      const g = raw as {
        principal?: unknown;
        projects?: unknown;
        actions?: unknown;
        buckets?: unknown;
      };
      const where = `policy file ${path}: grants[${i}]`;
      if (typeof g.principal !== "string" || g.principal === "")
        throw new Error(`${where} needs a "principal"`);
      if (!strings(g.projects))
        throw new Error(`${where} needs "projects": a list of project ids or "*"`);
      if (!Array.isArray(g.actions) || !g.actions.every((a) => ACTIONS.includes(a as Action)))
        throw new Error(`${where} needs "actions": some of ${ACTIONS.join(", ")}`);
      if (g.buckets !== undefined && !strings(g.buckets))
        throw new Error(`${where}: "buckets" must be a list of bucket names or "*"`);
      const list = grants.get(g.principal) ?? [];
      list.push({
        projects: new Set(g.projects),
        actions: new Set(g.actions as Action[]),
        buckets: new Set(g.buckets ?? []),
      });
      grants.set(g.principal, list);
    });
    return new Policy(grants);
  }

  private grantsOf(principal: string): Grant[] {
    return [...(this.grants.get(principal) ?? []), ...(this.grants.get("*") ?? [])];
  }

  /**
   * What the policy grants principal `"*"`, everyone who authenticates: with AUTH_MODE=google and
   * any Google account allowed, that is the whole internet, so the gateway warns of it at start.
   */
  everyoneGrants(): { projects: string[]; actions: Action[] }[] {
    return (this.grants.get("*") ?? []).map((g) => ({
      projects: [...g.projects],
      actions: [...g.actions],
    }));
  }

  allows(principal: string, project: string, action: Action): boolean {
    return this.grantsOf(principal).some(
      (g) => (g.projects.has(project) || g.projects.has("*")) && g.actions.has(action),
    );
  }

  /** Whether `principal` may import a raw disk from `bucket` into `project`. */
  allowsBucket(principal: string, project: string, bucket: string): boolean {
    return this.grantsOf(principal).some(
      (g) =>
        (g.projects.has(project) || g.projects.has("*")) &&
        g.actions.has("create") &&
        (g.buckets.has(bucket) || g.buckets.has("*")),
    );
  }
}
