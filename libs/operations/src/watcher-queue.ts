import type { Operation } from "@imagesvc/proto";

/**
 * The versions waiting for one watcher. Every version is a whole snapshot, so a watcher that
 * falls behind loses nothing by skipping to the newest: the queue keeps at most `limit` entries,
 * dropping the oldest, which bounds the memory a stalled client can pin. It ignores anything not
 * newer than what it already holds or has handed out, which makes versions strictly increasing.
 */
export class WatcherQueue {
  private readonly pending: Operation[] = [];
  private newest = 0;
  private wake: (() => void) | undefined;

  constructor(private readonly limit = 16) {}

  offer(operation: Operation): void {
    if (operation.version <= this.newest) return;
    this.newest = operation.version;
    this.pending.push(operation);
    if (this.pending.length > this.limit) this.pending.shift();
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** The next version; rejects with the signal's reason if it aborts first. */
  async next(signal: AbortSignal): Promise<Operation> {
    for (;;) {
      const head = this.pending.shift();
      if (head !== undefined) return head;
      signal.throwIfAborted();
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          this.wake = undefined;
          reject(signal.reason as Error);
        };
        this.wake = () => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        };
        signal.addEventListener("abort", onAbort, { once: true });
      });
    }
  }

  get size(): number {
    return this.pending.length;
  }
}
