import { ComputeFault } from "./compute-error";

/** Compute's per-project API rate quotas, by kind of call: mutating ("write") and read. */
export type QuotaKind = "write" | "read";

/** The Compute methods that count against each quota; the rest (tokens, storage) count nowhere. */
const KIND: Readonly<Record<string, QuotaKind>> = {
  "images.insert": "write",
  "images.delete": "write",
  "images.deprecate": "write",
  "images.setLabels": "write",
  "images.setIamPolicy": "write",
  "images.getFromFamily": "read",
  "images.getIamPolicy": "read",
  "images.testIamPermissions": "read",
  "globalOperations.delete": "write",
  "images.get": "read",
  "images.list": "read",
  "globalOperations.get": "read",
  "globalOperations.list": "read",
  "globalOperations.wait": "read",
};

export interface QuotaLimits {
  /** Mutating calls per minute of Compute's time, per project; 0 is no limit. */
  readonly writesPerMinute: number;
  /** Read calls per minute of Compute's time, per project; 0 is no limit. */
  readonly readsPerMinute: number;
}

/**
 * Compute's rate quotas, per project and kind: a bucket that holds a minute's calls and refills
 * continuously at the per-minute rate, in Compute's time (`timeScale` times faster than real
 * time). A call that finds it empty is refused with Compute's 403 `rateLimitExceeded`, and is
 * counted as refused; it takes no effect.
 */
export class Quotas {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly refused = new Map<string, number>();

  constructor(
    private readonly limits: () => QuotaLimits,
    private readonly timeScale: () => number,
  ) {}

  /** Takes one call of `method` in `project` from its quota, or throws Compute's refusal. */
  take(method: string, project: string, now: number): void {
    const kind = KIND[method];
    if (kind === undefined) return;
    const perMinute =
      kind === "write" ? this.limits().writesPerMinute : this.limits().readsPerMinute;
    if (perMinute <= 0) return;
    const key = `${project}\n${kind}`;
    const perMs = (perMinute / 60_000) * this.timeScale();
    const bucket = this.buckets.get(key) ?? { tokens: perMinute, at: now };
    bucket.tokens = Math.min(perMinute, bucket.tokens + (now - bucket.at) * perMs);
    bucket.at = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens < 1) {
      this.refused.set(key, (this.refused.get(key) ?? 0) + 1);
      const group = kind === "write" ? "Queries" : "Read requests";
      throw new ComputeFault(
        403,
        "rateLimitExceeded",
        `Quota exceeded for quota metric '${group}' and limit '${group} per minute' of service 'compute.googleapis.com' for consumer 'project_number:000000000000'.`,
      );
    }
    bucket.tokens -= 1;
  }

  /** Refused calls so far, by `project` and kind. */
  refusals(): Record<string, { write: number; read: number }> {
    const out: Record<string, { write: number; read: number }> = {};
    for (const [key, n] of this.refused) {
      const [project = "", kind = "read"] = key.split("\n");
      const entry = (out[project] ??= { write: 0, read: 0 });
      entry[kind as QuotaKind] += n;
    }
    return out;
  }

  reset(): void {
    this.buckets.clear();
    this.refused.clear();
  }
}
