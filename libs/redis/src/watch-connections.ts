import type { RedisClient } from "./client";

export interface WatchConnectionsOptions {
  /** Told of each connection error, by the connection's name (ioredis retries on its own). */
  readonly onError: (name: string, error: Error) => void;
  /** Told each time a connection becomes ready or is lost: readiness may have changed. */
  readonly onChange?: () => void;
}

/**
 * Watches a process's Redis connections, by name, the same in every process: errors reported
 * once each (an unwatched ioredis client prints them to stderr instead), and every change of
 * state signalled, for health that follows the connections.
 */
export function watchConnections(
  clients: Readonly<Record<string, RedisClient>>,
  options: WatchConnectionsOptions,
): void {
  for (const [name, client] of Object.entries(clients)) {
    client.on("error", (e: Error) => {
      options.onError(name, e);
    });
    const { onChange } = options;
    if (onChange === undefined) continue;
    for (const event of ["ready", "close", "end", "reconnecting"])
      client.on(event, () => {
        onChange();
      });
  }
}
