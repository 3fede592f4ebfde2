/**
 * Why a job was stopped: this worker may no longer hold its lock, so BullMQ may already have
 * given the job to another worker.
 */
export class LockLostError extends Error {
  override readonly name = "LockLostError";
}

export interface LockWatchOptions {
  /** BullMQ's lock duration for the worker's jobs, in ms. */
  readonly lockDurationMs: number;
  /** Told of each job stopped, and why. */
  readonly onLost?: (jobId: string, why: string) => void;
}

export interface LockWatch {
  /**
   * Watches a job's lock from now until `release`: `signal` aborts with a LockLostError when the
   * lock may be lost.
   */
  track(jobId: string): { readonly signal: AbortSignal; release(): void };
  /**
   * Stops the job now if its lock is in doubt, rather than at the next tick of the watch: called
   * right before an insert, so a process that resumes from a long pause (a freeze, a stop-the-world
   * collection) never sends one on a lock it no longer holds.
   */
  confirm(jobId: string): void;
  /** BullMQ renewed these jobs' locks (its `locksRenewed` event). */
  renewed(jobIds: readonly string[]): void;
  /** BullMQ could not renew these jobs' locks (its `lockRenewalFailed` event). */
  failed(jobIds: readonly string[]): void;
  close(): void;
}

/** No renewal confirmed for this share of the lock's duration: the lock is as good as gone. */
const DOUBT = 0.75;

/**
 * Stops a job at the first sign that this worker lost its lock: a renewal BullMQ reports as
 * failed, or no renewal confirmed for three quarters of the lock's duration (Redis unreachable, a
 * partition, a long pause of the process). Past that point BullMQ re-runs the job elsewhere, and a
 * worker that went on acting for it would race the re-run: its insert could land after the
 * re-run concluded. Stopping aborts the job's signal, which aborts its Compute calls at once and
 * lets it commit nothing more; the re-run treats whatever was in flight as unanswered.
 */
export function createLockWatch(options: LockWatchOptions): LockWatch {
  const { lockDurationMs } = options;
  /** When each job's lock was last known to be held, ms since epoch, and how to stop the job. */
  const tracked = new Map<string, { at: number; readonly stop: AbortController }>();
  const lose = (jobId: string, why: string) => {
    const job = tracked.get(jobId);
    if (job === undefined) return;
    tracked.delete(jobId);
    job.stop.abort(new LockLostError(`job ${jobId}: ${why}; stopping its Compute calls`));
    options.onLost?.(jobId, why);
  };
  const loseIfStale = (id: string, at: number, now: number) => {
    if (now - at > lockDurationMs * DOUBT)
      lose(id, `no lock renewal confirmed for ${now - at} ms (the lock lasts ${lockDurationMs})`);
  };
  const timer = setInterval(
    () => {
      const now = Date.now();
      for (const [id, { at }] of tracked) loseIfStale(id, at, now);
    },
    Math.max(50, lockDurationMs / 8),
  );
  timer.unref();
  return {
    track(jobId) {
      const stop = new AbortController();
      tracked.set(jobId, { at: Date.now(), stop });
      return {
        signal: stop.signal,
        release: () => {
          if (tracked.get(jobId)?.stop === stop) tracked.delete(jobId);
        },
      };
    },
    confirm(jobId) {
      const job = tracked.get(jobId);
      if (job !== undefined) loseIfStale(jobId, job.at, Date.now());
    },
    renewed(jobIds) {
      const now = Date.now();
      for (const id of jobIds) {
        const job = tracked.get(id);
        if (job !== undefined) job.at = now;
      }
    },
    failed(jobIds) {
      for (const id of jobIds) lose(id, "BullMQ could not renew the job's lock");
    },
    close() {
      clearInterval(timer);
      tracked.clear();
    },
  };
}
