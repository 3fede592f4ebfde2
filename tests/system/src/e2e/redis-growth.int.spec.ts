// Redis does not grow with the number of operations: records, request ids, indexes, the project
// activity set and finished jobs all go with the retention. A soak of many operations with a
// short retention leaves the key count where a single operation leaves it.
import { Operation_Status } from "@imagesvc/proto";
import { describe, expect, it } from "vitest";
import { drain, imageRequest, startStack, type Stack } from "./stack.test-helper";

/** Short, but well above how long an operation waits in the queue on a loaded 2-core machine. */
const RETENTION_MS = 3000;

/** Creates `n` operations (in `projects` projects), waits for all to be DONE. */
async function batch(stack: Stack, label: string, n: number, projects = 1): Promise<void> {
  const ops = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      stack.client.createImage({
        ...imageRequest(`${label}-${i}`),
        project: `soak-project-${i % projects}`,
      }),
    ),
  );
  const finals = await Promise.all(
    ops.map(async (op) =>
      (await drain(stack.client.watchOperation({ project: op.project, operation: op.name }))).at(
        -1,
      ),
    ),
  );
  expect(finals.every((f) => f?.status === Operation_Status.DONE)).toBe(true);
}

/** One operation, then a wait past the retention, twice: what is left is the floor. */
async function settle(stack: Stack, label: string): Promise<string[]> {
  for (const round of [1, 2]) {
    await batch(stack, `${label}-settle-${round}`, 1);
    await new Promise((r) => setTimeout(r, RETENTION_MS + 600));
  }
  return stack.keys();
}

describe("Redis growth", () => {
  it(
    "returns to its key floor after 300 operations in 30 projects",
    { timeout: 120_000 },
    async () => {
      const stack = await startStack({
        emulator: { operationDurationMs: 0 },
        gateway: { settings: { RECORD_RETENTION_MS: RETENTION_MS } },
      });
      try {
        await stack.startWorker({ RECORD_RETENTION_MS: String(RETENTION_MS) });
        const floor = await settle(stack, "warm");
        await batch(stack, "soak", 300, 30);
        const busy = await stack.keys();
        expect(busy.length).toBeGreaterThan(floor.length + 300);
        const after = await settle(stack, "after");
        process.stdout.write(
          `FAULTS redis-growth: operations=300 projects=30 keysFloor=${floor.length} keysBusy=${busy.length} keysAfter=${after.length}\n`,
        );
        expect(after.length).toBeLessThanOrEqual(floor.length);
      } finally {
        await stack.close();
      }
    },
  );
});
