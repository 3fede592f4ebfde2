/**
 * Ends the gateway's long-lived streams when it drains. Each stream gets a signal that aborts
 * with its own request's signal or at drain, whichever comes first. Streams are kept in a Set
 * rather than as listeners on one shared signal: an EventTarget checks every listener it holds
 * on each add, so 10,000 streams on one signal would cost O(n²) to open.
 */
export class StreamDrain {
  private readonly open = new Set<AbortController>();
  private drainReason: unknown;

  /** A signal for one stream; call `release()` when the stream ends. */
  join(request: AbortSignal): { signal: AbortSignal; release: () => void } {
    const controller = new AbortController();
    if (this.drainReason !== undefined) controller.abort(this.drainReason);
    else if (request.aborted) controller.abort(request.reason);
    const onAbort = () => {
      controller.abort(request.reason);
    };
    request.addEventListener("abort", onAbort, { once: true });
    this.open.add(controller);
    return {
      signal: controller.signal,
      release: () => {
        request.removeEventListener("abort", onAbort);
        this.open.delete(controller);
      },
    };
  }

  /** Aborts every open stream's signal with `reason`, and every later one at once. */
  drain(reason: unknown): void {
    this.drainReason = reason;
    for (const controller of this.open) controller.abort(reason);
    this.open.clear();
  }

  get size(): number {
    return this.open.size;
  }
}
