import { ComputeApiError, type ComputeClient } from "@imagesvc/compute";
import { requestIdOf, retentionMoves, type FamilyImage } from "@imagesvc/lifecycle";
import {
  familyLink,
  imageLink,
  recordRelease,
  retentionPassKey,
  type DueStep,
  type FamilyPolicies,
  type OperationStore,
  type ReleaseSchedules,
} from "@imagesvc/operations";
import { jobPointer, type ImageQueue } from "@imagesvc/queue";
import type { RedisClient } from "@imagesvc/redis";
import { createHash } from "node:crypto";
import type { Logger } from "pino";
import { familyImage } from "./release-driver";

export interface ReconcilerOptions {
  readonly store: OperationStore;
  readonly queue: ImageQueue;
  readonly schedules: ReleaseSchedules;
  readonly policies: FamilyPolicies;
  readonly compute: ComputeClient;
  readonly redis: RedisClient;
  readonly prefix: string;
  readonly log: Logger;
  /** Pause between passes, in ms (RECONCILE_INTERVAL_MS). */
  readonly intervalMs: number;
}

export interface PassResult {
  /** Scheduled steps turned into operations (or found to have one already). */
  readonly steps: number;
  /** Retention passes started. */
  readonly retentions: number;
}

export interface Reconciler {
  passOnce(): Promise<PassResult>;
  stop(): void;
}

/** Who the reconciler's operations say asked for them. */
export const RECONCILER_USER = "imagesvc-reconciler";

/**
 * Enacts what Compute does not: the schedules DeprecateImage set and the families' retention
 * policies. It runs on every worker, and changes nothing itself: each step that is due becomes a
 * release operation (operation_type `deprecate`, or `retain` for a retention pass), run by the
 * queue's workers like any other, with its versions and its request ids. The operation's request
 * id is derived from what it enacts, so workers that find the same step at once record one
 * operation between them (the request id's record is the claim), and a worker killed between
 * recording it and taking the step off the index records nothing twice on the next pass. Redis
 * keeps the index; a step survives a worker kill and a Redis restart with its data.
 *
 * A step is enacted within `intervalMs` of its time, plus the queue's wait for a free worker.
 * A retention pass runs a family's policy at most once per `intervalMs` across all workers (a
 * Redis key held for the interval), and only records an operation when the policy has
 * something to do.
 */
export function startReconciler(options: ReconcilerOptions): Reconciler {
  const { store, queue, schedules, log } = options;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const enqueue = (project: string, name: string) => queue.add(jobPointer(project, name));

  async function enactStep(step: DueStep): Promise<void> {
    const schedule = await schedules.get(step.project, step.image);
    // A replaced or cleared schedule: its steps are nobody's now.
    if (schedule?.by !== step.by) {
      await schedules.taken(step);
      return;
    }
    const requestId = requestIdOf(step.by, step.image, `scheduled ${step.state}`);
    await recordRelease(store, {
      project: step.project,
      type: "deprecate",
      requestId,
      fingerprint: `schedule:${step.by}:${step.state}`,
      targetLink: imageLink(step.project, step.image),
      user: RECONCILER_USER,
      release: {
        kind: "deprecate",
        image: step.image,
        state: step.state,
        replacement: schedule.replacement,
        times: schedule.times,
        steps: [],
        scheduledBy: step.by,
      },
      enqueue,
    });
    await schedules.taken(step);
    log.info(
      { project: step.project, image: step.image, state: step.state, dueMs: step.atMs },
      "scheduled step due: its operation is queued",
    );
  }

  async function retain(
    project: string,
    family: string,
    stored: Awaited<ReturnType<FamilyPolicies["all"]>>[number]["policy"],
  ): Promise<boolean> {
    // One pass per family per interval across the deployment.
    const held = await options.redis.set(
      retentionPassKey(options.prefix, project, family),
      "1",
      "PX",
      options.intervalMs,
      "NX",
    );
    if (held !== "OK") return false;
    let images: FamilyImage[];
    try {
      images = (await options.compute.listImages(project, { filter: `family = "${family}"` })).map(
        familyImage,
      );
    } catch (e) {
      if (!(e instanceof ComputeApiError)) throw e;
      log.warn({ err: e, project, family }, "could not list a family for its retention policy");
      return false;
    }
    const now = Date.now();
    const moves = retentionMoves(images, stored.policy, now);
    if (moves.length === 0) return false;
    // The same moves asked again within one window are the same operation; a window later, a
    // pass that is still due (its operation failed) is tried again.
    const window = Math.floor(now / (options.intervalMs * 10));
    const digest = createHash("sha256")
      // What is to be done, not the dates the moves would stamp (those change every pass).
      .update(JSON.stringify([stored.setBy, family, moves.map((m) => [m.image, m.to]), window]))
      .digest("hex");
    const requestId = requestIdOf(stored.setBy, family, digest);
    const recorded = await recordRelease(store, {
      project,
      type: "retain",
      requestId,
      fingerprint: `retain:${digest}`,
      targetLink: familyLink(project, family),
      user: RECONCILER_USER,
      release: { kind: "retain", family, policy: stored.policy },
      enqueue,
    });
    if (recorded.created)
      log.info(
        { project, family, operation: recorded.operation.name, moves },
        "retention policy due: its operation is queued",
      );
    return recorded.created;
  }

  async function passOnce(): Promise<PassResult> {
    let steps = 0;
    let retentions = 0;
    for (;;) {
      const due = await schedules.due(Date.now(), 100);
      for (const step of due) {
        if (stopped) return { steps, retentions };
        await enactStep(step);
        steps++;
      }
      if (due.length < 100) break;
    }
    for (const { project, family, policy } of await options.policies.all()) {
      if (stopped) break;
      if (await retain(project, family, policy)) retentions++;
    }
    return { steps, retentions };
  }

  const loop = () => {
    if (stopped) return;
    passOnce()
      .catch((e: unknown) => {
        log.warn({ err: e }, "reconciler pass failed; the next one tries again");
      })
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, options.intervalMs);
      });
  };
  timer = setTimeout(loop, Math.min(options.intervalMs, 1000));

  return {
    passOnce,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
