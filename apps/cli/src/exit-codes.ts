import { Code, ConnectError } from "@connectrpc/connect";

/** The CLI's exit codes; scripts depend on them. */
export const EXIT = {
  /**
   * The command succeeded, and the operation it reports is where it wants it: not DONE yet, or
   * DONE without an error (CANCELLED, for `cancel`).
   */
  ok: 0,
  /** The operation it reports is DONE otherwise: with an error (Compute's error lines are printed). */
  operationFailed: 1,
  /** Usage or validation error: nothing was sent, or the gateway refused the request as malformed. */
  usage: 2,
  /** The gateway is unreachable, or refused the caller's credentials. */
  unreachable: 3,
} as const;

/** The exit code for an error from a gateway call. */
export function exitCodeOf(error: unknown): number {
  const code = ConnectError.from(error).code;
  switch (code) {
    case Code.InvalidArgument:
    case Code.NotFound:
    case Code.AlreadyExists:
    case Code.FailedPrecondition:
    case Code.OutOfRange:
      return EXIT.usage;
    case Code.Unavailable:
    case Code.Unauthenticated:
    case Code.PermissionDenied:
    case Code.DeadlineExceeded:
    case Code.Unknown:
      return EXIT.unreachable;
    default:
      return EXIT.operationFailed;
  }
}

/** True for failures worth reconnecting after: the stream or the gateway went away. */
export function isTransient(error: unknown): boolean {
  const code = ConnectError.from(error).code;
  return (
    code === Code.Unavailable ||
    code === Code.Unknown ||
    code === Code.Internal ||
    code === Code.DeadlineExceeded
  );
}
