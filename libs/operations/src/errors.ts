/** What libs/operations throws besides Redis's own outages (libs/redis's RedisUnavailableError). */

/**
 * A record this release cannot read: corrupt, or written in a shape it does not know. Its readers
 * skip it (the sweeper) or fail the one call that met it; it never stops work on other records.
 */
export class UnreadableRecordError extends Error {
  override readonly name = "UnreadableRecordError";
}

export class OperationNotFoundError extends Error {
  override readonly name = "OperationNotFoundError";
}

/** Thrown when an operation's record is gone while a step was being taken. */
export class OperationGoneError extends Error {
  override readonly name = "OperationGoneError";
}
