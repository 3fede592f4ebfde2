/** What libs/queue throws besides Redis's own outages (libs/redis's RedisUnavailableError). */

/** Thrown for a request or job this code cannot run; the job should fail for good, not retry. */
export class InvalidJobError extends Error {
  override readonly name = "InvalidJobError";
}
