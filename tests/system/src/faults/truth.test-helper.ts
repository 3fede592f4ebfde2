// What the truth tests share: a stack whose emulator runs Compute's time 1000 times faster, a
// gateway spawned from its build, workers with their timing compressed alike, and the checks.
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { EmulatorAdmin, EmulatorOptions, ImageJson } from "@imagesvc/compute-emulator";
import { ImageService, Operation_Status, type Operation } from "@imagesvc/proto";
import type { SpawnedApp } from "@imagesvc/testing";
import { expect } from "vitest";
import { drain, operationRef, startStack, type Stack } from "../e2e/stack.test-helper";

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
  /** The emulator's admin handle: its faults, its state. */
  readonly admin: EmulatorAdmin;
  readonly client: Client<typeof ImageService>;
  startWorker(env?: Record<string, string>): Promise<SpawnedApp>;
  /** Every version a watcher sees until DONE. */
  watch(op: Operation): Promise<Operation[]>;
  /** The emulator's images of that name. */
  imageOf(name: string): ImageJson[];
  /** How many calls of `route` (e.g. `images.get`) reached the emulator. */
  callsOf(route: string): number;
  /** How many inserts reached the emulator with the operation's request id. */
  insertsOf(op: Operation): number;
  close(): Promise<void>;
}

export async function startTruth(emulator: EmulatorOptions = {}): Promise<Truth> {
  const stack = await startStack({ emulator: { ...COMPUTE_TIME, ...emulator } });
  const gateway = await stack.spawnGateway();
  const client = createClient(
    ImageService,
    createConnectTransport({ baseUrl: gateway.url, httpVersion: "2" }),
  );
  const admin = stack.emulator.admin;
  return {
    stack,
    admin,
    client,
    // The worker's own timing, compressed like Compute's: waits of 120 ms, polls of 10 ms.
    startWorker: (env = {}) =>
      stack.startWorker({
        WAIT_MIN_INTERVAL_MS: "1",
        IMAGE_POLL_MS: "10",
        JOB_LOCK_MS: "1000",
        ...env,
      }),
    watch: (op) => drain(client.watchOperation(operationRef(op))),
    imageOf: (name) => admin.state().images.filter((i) => i.name === name),
    callsOf: (route) => admin.state().calls[route] ?? 0,
    insertsOf: (op) => admin.state().insertCalls[op.clientOperationId] ?? 0,
    async close() {
      await gateway.app.stop();
      await stack.close();
    },
  };
}

type Story = (t: Truth) => Promise<void>;

/** Runs `story` on a fresh truth stack, its emulator with `emulator`'s options; closes it after. */
export async function withTruth(
  ...args: [story: Story] | [emulator: EmulatorOptions, story: Story]
): Promise<void> {
  const [emulator, story] = args.length === 1 ? [{}, args[0]] : args;
  const t = await startTruth(emulator);
  try {
    await story(t);
  } finally {
    await t.close();
  }
}

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
