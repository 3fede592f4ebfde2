import { useTestRedis, type TestRedis } from "@imagesvc/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createComputeBudget } from "./compute-budget";
import { computeQuotaKey } from "./keys";

let redis: TestRedis;
beforeEach(async () => {
  redis = await useTestRedis();
});
afterEach(async () => {
  await redis.cleanup();
});

const budget = (writesPerMinute: number, readsPerMinute: number) =>
  createComputeBudget({
    redis: redis.client,
    prefix: redis.prefix.slice(0, -1),
    writesPerMinute,
    readsPerMinute,
  });
const tokens = async (project: string, kind: "write" | "read") =>
  Number(
    await redis.client.hget(computeQuotaKey(redis.prefix.slice(0, -1), project, kind), "tokens"),
  );
/** Whether `take` is still waiting after 50 ms. */
async function waits(take: (signal: AbortSignal) => Promise<void>): Promise<boolean> {
  const abort = new AbortController();
  const outcome = take(abort.signal).then(
    () => false,
    () => true,
  );
  setTimeout(() => {
    abort.abort(new Error("gave up"));
  }, 50);
  return outcome;
}

describe("the workers' shared budget of Compute's quota", () => {
  it("lets a tenth of a second's calls go at once, then makes the next wait, per project and kind", async () => {
    const b = budget(60, 6000); // writes: one at once, then one a second; reads: 10 at once
    await b.take("images.insert", "p");
    expect(await tokens("p", "write")).toBeLessThan(1);
    expect(await waits((signal) => b.take("images.insert", "p", signal))).toBe(true);
    // Another project, and reads, have budgets of their own.
    expect(await waits((signal) => b.take("images.insert", "other", signal))).toBe(false);
    expect(await waits((signal) => b.take("globalOperations.wait", "p", signal))).toBe(false);
    expect(Math.floor(await tokens("p", "read"))).toBe(9);
  });

  it("is shared: a second worker's budget draws from the same bucket", async () => {
    const [a, b] = [budget(60, 0), budget(60, 0)];
    await a.take("images.insert", "p");
    expect(await waits((signal) => b.take("images.insert", "p", signal))).toBe(true);
  });

  it("empties the bucket when Compute refuses a call for its quota, so every worker waits", async () => {
    const b = budget(60_000, 0);
    await b.take("images.insert", "p");
    expect(await tokens("p", "write")).toBeGreaterThan(90);
    await b.refused("images.insert", "p");
    expect(await tokens("p", "write")).toBe(0);
    // A kind with no quota configured costs nothing and is never paced.
    await b.refused("images.get", "p");
    expect(await waits((signal) => b.take("images.get", "p", signal))).toBe(false);
  });
});
