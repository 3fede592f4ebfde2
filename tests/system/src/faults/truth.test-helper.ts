// What the truth tests share: a stack whose emulator runs Compute's time 1000 times faster, a
// gateway spawned from its build, workers with their timing compressed alike, and the checks.
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { EmulatorOptions } from "@imagesvc/compute-emulator";
import { ImageService, Operation_Status, type Operation } from "@imagesvc/proto";
import type { SpawnedApp } from "@imagesvc/testing";
import { expect } from "vitest";
import { drain, startStack, type Stack } from "../e2e/stack.test-helper";

/** Compute's time, compressed 1000 times: a 45-minute import takes 2.7 s here. */
export const COMPUTE_TIME: EmulatorOptions = {
  timeScale: 1000,
  operationDurationMs: 45 * 60_000,
  waitCapMs: 120_000,
  requestIdTtlMs: 60 * 60_000,
  operationRetentionMs: 24 * 3600_000,
};

export interface Truth {
  readonly stack: Stack;
  readonly client: Client<typeof ImageService>;
  startWorker(env?: Record<string, string>): Promise<SpawnedApp>;
  close(): Promise<void>;
}

export async function startTruth(emulator: EmulatorOptions = {}): Promise<Truth> {
  const stack = await startStack({ emulator: { ...COMPUTE_TIME, ...emulator } });
  const gateway = await stack.spawnGateway();
  const client = createClient(
    ImageService,
    createConnectTransport({ baseUrl: gateway.url, httpVersion: "2" }),
  );
  return {
    stack,
    client,
    // The worker's own timing, compressed like Compute's: waits of 120 ms, polls of 10 ms.
    startWorker: (env = {}) =>
      stack.startWorker({
        WAIT_MIN_INTERVAL_MS: "1",
        IMAGE_POLL_MS: "10",
        JOB_LOCK_MS: "1000",
        ...env,
      }),
    async close() {
      await gateway.app.stop();
      await stack.close();
    },
  };
}

/** Every version a watcher sees until DONE. */
export const watch = (t: Truth, op: Operation) =>
  drain(t.client.watchOperation({ project: "my-project", operation: op.name }));

/** Waits until `check` holds, polling; fails the test after `ms`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  ms = 20_000,
): Promise<void> {
  for (const deadline = Date.now() + ms; !(await check());) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** DONE without an error: what callers take for "the image exists". */
export function expectSucceeded(op: Operation | undefined): void {
  expect(op?.status).toBe(Operation_Status.DONE);
  expect(op?.error, JSON.stringify(op?.error)).toBeUndefined();
}

/** The emulator's images of that name. */
export const imageOf = (t: Truth, name: string) =>
  t.stack.emulator.admin.state().images.filter((i) => i.name === name);

/** How many inserts reached the emulator with the operation's request id. */
export const insertsOf = (t: Truth, op: Operation) =>
  t.stack.emulator.admin.state().insertCalls[op.clientOperationId] ?? 0;
