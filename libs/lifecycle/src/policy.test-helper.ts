import type { LifecyclePolicy } from "./policy";

/**
 * A policy for tests: the deployment's defaults (libs/config's), each overridable. Production
 * code builds its policy from the resolved settings and has no defaults of its own.
 */
export function testPolicy(overrides: Partial<LifecyclePolicy> = {}): LifecyclePolicy {
  return {
    insertWindowMs: 30 * 60_000,
    requestIdMemoryMs: 60 * 60_000,
    settleMs: 5 * 60_000,
    notFoundGraceMs: 60_000,
    minWaitIntervalMs: 1000,
    imagePollMs: 10_000,
    retryDelay: (n) => Math.min(30_000, 500 * 2 ** Math.min(n, 30)),
    ...overrides,
  };
}
