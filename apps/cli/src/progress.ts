import { Operation_Status, type Operation } from "@imagesvc/proto";
import { ndjson, statusLine } from "./output";
import { progressBar, type DisplayMode } from "./progress-bar";

/** Shows the states of an operation as they arrive. */
export interface Progress {
  update(op: Operation): void;
  /** A note between states (reconnecting …), where it does not break the display. */
  note(message: string): void;
  stop(): void;
}

/**
 * On a TTY: a bar with percent, status, elapsed time and operation name. Off a TTY: one line per
 * change. With --json: NDJSON of the Operation messages.
 */
export function createProgress(
  mode: DisplayMode,
  out: NodeJS.WriteStream = process.stdout,
): Progress {
  if (mode === "json") {
    return { update: (op) => out.write(ndjson(op)), note: () => undefined, stop: () => undefined };
  }
  if (mode === "lines") {
    return {
      update: (op) => out.write(statusLine(op)),
      note: (message) => process.stderr.write(`${message}\n`),
      stop: () => undefined,
    };
  }
  const bar = progressBar(
    "{bar} {percentage}% | {status} | {duration_formatted} | {operation}",
    out,
  );
  let started = false;
  return {
    update(op) {
      const payload = { status: Operation_Status[op.status], operation: op.name };
      if (!started) {
        bar.start(100, op.progress, payload);
        started = true;
      } else bar.update(op.progress, payload);
    },
    note(message) {
      bar.update({ status: message });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
