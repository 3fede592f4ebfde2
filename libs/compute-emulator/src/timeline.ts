/**
 * An operation's life as a function of time: PENDING for the first tenth of its duration, then
 * RUNNING with progress rising to 99, then DONE with 100. Deriving state from the clock needs no
 * timer per operation, and every reader at the same instant sees the same state.
 */
export interface Timeline {
  readonly insertedAt: number;
  readonly durationMs: number;
}

export type Phase = "PENDING" | "RUNNING" | "DONE";

export const doneAt = (t: Timeline) => t.insertedAt + t.durationMs;
export const startedAt = (t: Timeline) => t.insertedAt + t.durationMs / 10;

export function phaseAt(t: Timeline, now: number): Phase {
  if (now >= doneAt(t)) return "DONE";
  return now >= startedAt(t) ? "RUNNING" : "PENDING";
}

export function progressAt(t: Timeline, now: number): number {
  const phase = phaseAt(t, now);
  if (phase === "DONE") return 100;
  if (phase === "PENDING") return 0;
  const running = doneAt(t) - startedAt(t);
  return Math.min(99, Math.floor(((now - startedAt(t)) / running) * 100));
}

export const rfc3339 = (ms: number) => new Date(ms).toISOString();
