import { SingleBar } from "cli-progress";

/** How the CLI shows progress: a bar on a TTY, a line per change off one, NDJSON with --json. */
export type DisplayMode = "tty" | "lines" | "json";

/**
 * The CLI's one progress bar (cli-progress), for operations and uploads alike: the cursor hidden
 * while it draws, on the stream given (stdout for an operation's states, stderr for an upload
 * that prints the operation after it).
 */
export function progressBar(
  format: string,
  stream: NodeJS.WriteStream,
  options: { readonly etaBuffer?: number } = {},
): SingleBar {
  return new SingleBar({
    format,
    hideCursor: true,
    clearOnComplete: false,
    stream,
    ...options,
  });
}
