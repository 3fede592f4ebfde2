import { readFileSync } from "node:fs";

export type Action = "create" | "read" | "cancel";
const ACTIONS: readonly Action[] = ["create", "read", "cancel"];

/**
 * The policy file: `{"grants": [{"principal": "ci@builds", "projects": ["my-project"], "actions":
 * ["create", "read", "cancel"]}, …]}`. `"projects": ["*"]` grants every project. Anything not
 * granted is denied.
 */
export class Policy {
  private constructor(
    private readonly grants: ReadonlyMap<
      string,
      readonly { projects: ReadonlySet<string>; actions: ReadonlySet<Action> }[]
    >,
  ) {}

  /** Everyone may do everything: AUTH_MODE=none, for local use only. */
  static allowAll(): Policy {
    return new Policy(new Map([["*", [{ projects: new Set(["*"]), actions: new Set(ACTIONS) }]]]));
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
    const grants = new Map<
      string,
      { projects: ReadonlySet<string>; actions: ReadonlySet<Action> }[]
    >();
    parsed.grants.forEach((raw: unknown, i) => {
      const g = raw as { principal?: unknown; projects?: unknown; actions?: unknown };
      const where = `policy file ${path}: grants[${i}]`;
      if (typeof g.principal !== "string" || g.principal === "")
        throw new Error(`${where} needs a "principal"`);
      if (!Array.isArray(g.projects) || !g.projects.every((p) => typeof p === "string"))
        throw new Error(`${where} needs "projects": a list of project ids or "*"`);
      if (!Array.isArray(g.actions) || !g.actions.every((a) => ACTIONS.includes(a as Action)))
        throw new Error(`${where} needs "actions": some of ${ACTIONS.join(", ")}`);
      const list = grants.get(g.principal) ?? [];
      list.push({
        projects: new Set(g.projects),
        actions: new Set(g.actions as Action[]),
      });
      grants.set(g.principal, list);
    });
    return new Policy(grants);
  }

  allows(principal: string, project: string, action: Action): boolean {
    for (const grant of [...(this.grants.get(principal) ?? []), ...(this.grants.get("*") ?? [])]) {
      if ((grant.projects.has(project) || grant.projects.has("*")) && grant.actions.has(action))
        return true;
    }
    return false;
  }
}
