import {
  createSweeperLock,
  operationKeys,
  UnreadableRecordError,
  type OperationStore,
} from "@imagesvc/operations";
import { Operation_Status } from "@imagesvc/proto";
import { jobPointer, type ImageQueue } from "@imagesvc/queue";
import type { RedisClient } from "@imagesvc/redis";
import type { Logger } from "pino";

export interface SweeperOptions {
  readonly store: OperationStore;
  readonly queue: ImageQueue;
  /** For the lock that lets one worker of the deployment sweep at a time. */
  readonly redis: RedisClient;
  /** Deployment prefix, for the lock's key. */
  readonly prefix: string;
  readonly log: Logger;
  /** Pause between the end of one sweep and the start of the next, in ms. */
  readonly intervalMs: number;
  /** Operations younger than this are left alone: their job may still be on its way, in ms. */
  readonly graceMs: number;
  /** Operations read per page. Default: 500. */
  readonly pageSize?: number;
  /** Told once per record (per process) that the sweeper cannot read and skips, for a metric. */
  readonly onUnreadable?: () => void;
}

export interface SweepResult {
  readonly requeued: number;
  /** False when another worker held the sweep lock, so this one did nothing. */
  readonly swept: boolean;
}

export interface Sweeper {
  sweepOnce(): Promise<SweepResult>;
  /** Stops sweeping at once; a sweep in flight stops at its next step. Never waits on Redis. */
  stop(): void;
}

/**
 * Keeps docs/design.md's invariant 3 on the queue's side: every operation that is not DONE has a
 * job that will run. It walks every PENDING and RUNNING operation older than the grace period, a
 * page at a time to the end (no cap: a backlog of long imports cannot hide a lost job behind it),
 * checks each page's jobs in one round trip of O(1) reads, and queues again every job that is
 * missing (a gateway died before queueing it, Redis lost it) or finished without finishing its
 * operation (stalled too often, or failed on Redis errors). It never ends an operation itself:
 * only the lifecycle does, when the job runs, after looking at Compute.
 *
 * Sweeps never overlap: in one process the next starts `intervalMs` after the last ended, and
 * across processes a lock in Redis lets one worker sweep at a time.
 */
export function startSweeper(options: SweeperOptions): Sweeper {
  const { store, queue, log, redis } = options;
  const pageSize = options.pageSize ?? 500;
  const lock = createSweeperLock(redis, options.prefix);
  const lockMs = Math.max(30_000, options.intervalMs * 2);
  const stopping = new AbortController();
  /** A function, not a variable, so that checks between awaits read the current value. */
  const stopped = () => stopping.signal.aborted;

  async function sweepOnce(): Promise<SweepResult> {
    const token = await lock.acquire(lockMs);
    if (token === undefined) return { requeued: 0, swept: false };
    let requeued = 0;
    try {
      const before = Date.now() - options.graceMs;
      for (const project of await store.projects()) {
        for (const status of [Operation_Status.PENDING, Operation_Status.RUNNING]) {
          let cursor = "";
          do {
            if (stopped()) return { requeued, swept: true };
            const page = await store.namesCreatedBefore(project, status, before, {
              limit: pageSize,
              cursor,
            });
            const statuses = await queue.statuses(page.names);
            for (const [i, name] of page.names.entries()) {
              const jobStatus = statuses[i];
              if (jobStatus === "live" || stopped()) continue;
              if (jobStatus === "unreadable") {
                unreadable(project, name, new Error("its job's key holds no BullMQ job"), "job");
                continue;
              }
              try {
                if (await requeue(project, name, jobStatus ?? "missing")) requeued += 1;
              } catch (e) {
                // One bad record never stops the sweep of the others.
                if (!isUnreadable(e)) throw e;
                unreadable(project, name, e);
              }
            }
            cursor = page.cursor;
            await lock.extend(token, lockMs);
          } while (cursor !== "");
        }
      }
      return { requeued, swept: true };
    } finally {
      if (!stopped()) await lock.release(token);
    }
  }

  async function requeue(project: string, name: string, why: string): Promise<boolean> {
    // Read the record (not only the index) to skip one that finished since the page was read.
    const operation = await store.get(project, name);
    if (operation === undefined || operation.status === Operation_Status.DONE) return false;
    await queue.requeue(jobPointer(project, name));
    log.warn({ operation: name, project, job: why }, "its job will not run; queued it again");
    return true;
  }

  /** Records already reported unreadable: each is logged and counted once. Bounded. */
  const reported = new Set<string>();
  function unreadable(
    project: string,
    name: string,
    e: Error,
    what: "record" | "job" = "record",
  ): void {
    const key =
      what === "record" ? operationKeys(options.prefix, project, name).record : queue.jobKey(name);
    if (reported.has(key)) return;
    if (reported.size >= 10_000) reported.clear();
    reported.add(key);
    log.error(
      { operation: name, project, key, err: e },
      what === "record"
        ? "the sweeper cannot read this operation's record and skips it; the others are swept"
        : "the sweeper cannot read this operation's job and leaves it; the others are swept",
    );
    options.onUnreadable?.();
  }

  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    timer = setTimeout(() => {
      sweepOnce()
        .catch((e: unknown) => {
          if (!stopped()) log.error({ err: e }, "sweep failed");
        })
        .finally(() => {
          if (!stopped()) schedule();
        });
    }, options.intervalMs);
    timer.unref();
  };
  schedule();

  return {
    sweepOnce,
    stop() {
      stopping.abort();
      clearTimeout(timer);
    },
  };
}

/** What a record that cannot be read throws (as opposed to Redis failing). */
function isUnreadable(e: unknown): e is Error {
  return e instanceof UnreadableRecordError;
}
