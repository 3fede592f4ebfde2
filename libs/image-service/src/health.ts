import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { healthV1 } from "@imagesvc/proto";
import type { StreamDrain } from "./drain";

const { HealthCheckResponse_ServingStatus: Status } = healthV1;
type ServingStatus = healthV1.HealthCheckResponse_ServingStatus;

export interface Health {
  /** `grpc.health.v1.Health`: Check, Watch and List, overall ("") and per service. */
  readonly service: ServiceImpl<typeof healthV1.Health>;
  /** SERVING or NOT_SERVING, for /readyz. */
  serving(): boolean;
  /** Re-evaluates and tells watchers if the status changed (call on Redis connection events). */
  refresh(): void;
  /** From now on NOT_SERVING: the process is draining. */
  drain(): void;
}

/**
 * Health for the gateway: SERVING while Redis answers and the process is not draining,
 * NOT_SERVING otherwise. Every service shares the status, since each needs Redis.
 */
export function createHealth(
  services: readonly string[],
  redisReady: () => boolean,
  streamDrain: StreamDrain,
  /**
   * Takes a place for one Watch stream (RESOURCE_EXHAUSTED when none is left) and returns its
   * release. Health is open to everyone, so its streams are capped for the whole gateway.
   */
  acquireWatch: () => () => void,
): Health {
  let draining = false;
  const names = new Set(["", ...services]);
  const watchers = new Set<() => void>();
  const current = (): ServingStatus =>
    !draining && redisReady() ? Status.SERVING : Status.NOT_SERVING;
  let last = current();

  const refresh = () => {
    const now = current();
    if (now === last) return;
    last = now;
    for (const wake of [...watchers]) wake();
  };

  const service: ServiceImpl<typeof healthV1.Health> = {
    check(req) {
      if (!names.has(req.service))
        throw new ConnectError(`unknown service ${req.service}`, Code.NotFound);
      return { status: current() };
    },
    async *watch(req, ctx) {
      const release = acquireWatch();
      const stream = streamDrain.join(ctx.signal);
      try {
        yield* watchStatus(req.service, stream.signal);
      } finally {
        stream.release();
        release();
      }
    },
    list() {
      return {
        statuses: Object.fromEntries([...names].map((name) => [name, { status: current() }])),
      };
    },
  };

  async function* watchStatus(name: string, signal: AbortSignal) {
    // Per the health protocol, an unknown service is SERVICE_UNKNOWN and the stream stays open.
    const statusNow = () => (names.has(name) ? current() : Status.SERVICE_UNKNOWN);
    let sent: ServingStatus | undefined;
    for (;;) {
      const status = statusNow();
      if (status !== sent) {
        sent = status;
        yield { status };
      }
      await new Promise<void>((resolve, reject) => {
        const wake = () => {
          watchers.delete(wake);
          signal.removeEventListener("abort", onAbort);
          resolve();
        };
        const onAbort = () => {
          watchers.delete(wake);
          reject(signal.reason as Error);
        };
        if (signal.aborted) {
          onAbort();
          return;
        }
        watchers.add(wake);
        signal.addEventListener("abort", onAbort, { once: true });
      });
    }
  }

  return {
    service,
    serving: () => current() === Status.SERVING,
    refresh,
    drain() {
      draining = true;
      refresh();
    },
  };
}
