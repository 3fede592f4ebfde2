import { defaultFault, type ComputeFault } from "./compute-error";
import { seededRandom } from "./ids";
import { checkFaultRule, type FaultRule } from "./options";

/** What the active faults decide for one call. */
export interface FaultDecision {
  readonly latencyMs: number;
  /** `notFound`: answer 404 for the resource the call names, as if it were not visible yet. */
  readonly before?: ComputeFault | "reset" | "notFound";
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
 *
 * With `maxFailureStreak`, no target (one requestId of `images.insert`, one operation or image of
 * the other routes) is failed by an error or reset more than that many calls in a row: the next
 * call for it goes through. Random failures stay random, but a client that retries more often than
 * the streak is sure to get through, so a test can assert a retry bound without flaking.
 */
export class Faults {
  private rules: ActiveRule[] = [];
  private random: () => number;
  /** Failed calls in a row per target, while `maxFailureStreak` is set. */
  private readonly streaks = new Map<string, number>();

  constructor(
    private readonly seed: number,
    initial: readonly FaultRule[] = [],
    private readonly maxFailureStreak?: number,
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

  /** Removes every rule, forgets the streaks and restarts the generator from the seed. */
  clear(): void {
    this.rules = [];
    this.streaks.clear();
    this.random = seededRandom(this.seed);
  }

  /** What to do with one call of `route`; `target` names what it acts on, for the streak limit. */
  decide(route: string, target?: string): FaultDecision {
    const key =
      this.maxFailureStreak === undefined || target === undefined
        ? undefined
        : `${route} ${target}`;
    const spared =
      key !== undefined && (this.streaks.get(key) ?? 0) >= (this.maxFailureStreak ?? 0);
    let latencyMs = 0;
    let before: ComputeFault | "reset" | "notFound" | undefined;
    let after: ComputeFault | "reset" | undefined;
    let waitEarly = false;
    for (const active of this.rules) {
      const { rule } = active;
      if (rule.route !== "*" && rule.route !== route) continue;
      // A phase already decided leaves later error/reset rules of that phase untouched, so
      // their counts are spent only on calls they actually fail.
      const phase = rule.phase === "after" ? after : before;
      const fails =
        rule.effect === "error" || rule.effect === "reset" || rule.effect === "notFound";
      if (fails && (phase !== undefined || spared)) continue;
      if (!this.fires(active)) continue;
      if (rule.effect === "latency") latencyMs += rule.latencyMs ?? 0;
      else if (rule.effect === "waitEarly") waitEarly = true;
      else if (rule.effect === "notFound") before ??= "notFound";
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
    if (key !== undefined) {
      if (before === undefined && after === undefined) this.streaks.delete(key);
      else this.streaks.set(key, (this.streaks.get(key) ?? 0) + 1);
    }
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
