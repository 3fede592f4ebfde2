import type { Operation } from "@imagesvc/proto";

/**
 * The versions waiting for one watcher. Every version is a whole snapshot, so a watcher that
 * falls behind loses nothing by skipping to the newest: the queue keeps at most `limit` entries,
 * dropping the oldest, which bounds the memory a stalled client can pin. It ignores anything not
 * newer than what it already holds or has handed out, which makes versions strictly increasing.
 *
 * It listens to its signal once for its whole life, not once per version: a busy stream costs
 * no event-listener churn. Call `dispose()` when the watcher leaves.
 */
export class WatcherQueue {
  private readonly pending: Operation[] = [];
  private newest = 0;
  private waiter: { resolve: () => void; reject: (reason: unknown) => void } | undefined;
  private failure: Error | undefined;
  private readonly onAbort = () => {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(this.signal.reason);
  };

  constructor(
    private readonly signal: AbortSignal,
    private readonly limit = 16,
  ) {
    signal.addEventListener("abort", this.onAbort, { once: true });
  }

  offer(operation: Operation): void {
    if (operation.version <= this.newest) return;
    this.newest = operation.version;
    this.pending.push(operation);
    if (this.pending.length > this.limit) this.pending.shift();
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.resolve();
  }

  /**
   * Ends the watch with `error` once the versions already queued are handed out (the operation's
   * record is gone: nothing newer will ever come).
   */
  fail(error: Error): void {
    this.failure = error;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.resolve();
  }

  /** The next version; rejects with the signal's reason if it aborts first, or with a failure. */
  async next(): Promise<Operation> {
    for (;;) {
      const head = this.pending.shift();
      if (head !== undefined) return head;
      this.signal.throwIfAborted();
      if (this.failure !== undefined) throw this.failure;
      await new Promise<void>((resolve, reject) => {
        this.waiter = { resolve, reject };
      });
    }
  }

  /** Stops listening to the signal. */
  dispose(): void {
    this.signal.removeEventListener("abort", this.onAbort);
    this.waiter = undefined;
  }

  get size(): number {
    return this.pending.length;
  }
}
