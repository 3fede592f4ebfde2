import { Operation_Status, type Operation } from "@imagesvc/proto";
import { SingleBar } from "cli-progress";
import { ndjson, statusLine } from "./output";

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
  mode: "tty" | "lines" | "json",
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
  const bar = new SingleBar({
    format: "{bar} {percentage}% | {status} | {duration_formatted} | {operation}",
    hideCursor: true,
    clearOnComplete: false,
    stream: out,
  });
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
