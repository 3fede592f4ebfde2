import { defaultFault, type ComputeFault } from "./compute-error";
import { seededRandom } from "./ids";
import { checkFaultRule, type FaultRule } from "./options";

/** What the active faults decide for one call. */
export interface FaultDecision {
  readonly latencyMs: number;
  readonly before?: ComputeFault | "reset";
  readonly after?: ComputeFault | "reset";
  readonly waitEarly: boolean;
}

interface ActiveRule {
  readonly rule: FaultRule;
  remaining: number | undefined;
}

/**
 * The fault rules in force and the seeded generator behind their `rate`s. Rules are evaluated in
 * the order they were added; the first error or reset of each phase wins, latencies add up.
 */
export class Faults {
  private rules: ActiveRule[] = [];
  private random: () => number;

  constructor(
    private readonly seed: number,
    initial: readonly FaultRule[] = [],
  ) {
    this.random = seededRandom(seed);
    for (const rule of initial) this.add(rule);
  }

  add(rule: unknown): FaultRule {
    const checked = checkFaultRule(rule);
    this.rules.push({ rule: checked, remaining: checked.count });
    return checked;
  }

  list(): FaultRule[] {
    return this.rules.map((r) => r.rule);
  }

  /** Removes every rule and restarts the generator from the seed. */
  clear(): void {
    this.rules = [];
    this.random = seededRandom(this.seed);
  }

  decide(route: string): FaultDecision {
    let latencyMs = 0;
    let before: ComputeFault | "reset" | undefined;
    let after: ComputeFault | "reset" | undefined;
    let waitEarly = false;
    for (const active of this.rules) {
      const { rule } = active;
      if (rule.route !== "*" && rule.route !== route) continue;
      // A phase already decided leaves later error/reset rules of that phase untouched, so
      // their counts are spent only on calls they actually fail.
      const phase = rule.phase === "after" ? after : before;
      if ((rule.effect === "error" || rule.effect === "reset") && phase !== undefined) continue;
      if (!this.fires(active)) continue;
      if (rule.effect === "latency") latencyMs += rule.latencyMs ?? 0;
      else if (rule.effect === "waitEarly") waitEarly = true;
      else {
        const outcome =
          rule.effect === "reset"
            ? "reset"
            : defaultFault(rule.status ?? 503, rule.reason, rule.message);
        if (rule.phase === "after") after ??= outcome;
        else before ??= outcome;
      }
    }
    this.rules = this.rules.filter((r) => r.remaining === undefined || r.remaining > 0);
    return { latencyMs, waitEarly, ...(before && { before }), ...(after && { after }) };
  }

  private fires(active: ActiveRule): boolean {
    if (active.remaining !== undefined) {
      if (active.remaining <= 0) return false;
      if (active.rule.rate !== undefined && this.random() >= active.rule.rate) return false;
      active.remaining -= 1;
      return true;
    }
    return active.rule.rate === undefined || this.random() < active.rule.rate;
  }
}
