import { OperationNotFoundError } from "./errors";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { UNKNOWN_FIELDS_IGNORED } from "./json-options";
import { Operation_Status, OperationSchema, type Operation } from "@imagesvc/proto";
import type { Subscriber } from "@imagesvc/redis";
import { operationKeys } from "./keys";
import type { OperationStore } from "./operation-store";
import { WatcherQueue } from "./watcher-queue";
import { redisError } from "@imagesvc/redis";
import { backoffDelay } from "@imagesvc/runtime";

export interface OperationBusOptions {
  /**
   * The process's one subscriber connection (one per shard on a cluster); the bus owns it from
   * here on. Its mode must match the publishers' (see OperationStoreOptions.pubsub).
   */
  readonly subscriber: Subscriber;
  /** Snapshots are read from here. */
  readonly store: OperationStore;
  /** The deployment's prefix (REDIS_PREFIX), the store's. */
  readonly prefix: string;
  /** Versions kept for a watcher that does not read; older ones are dropped. Default: 16. */
  readonly queueLimit?: number;
  /**
   * Deliveries (messages × their watchers) handled in one event-loop turn before the bus yields
   * to I/O. One socket read can carry hundreds of updates; handling them all, with every
   * watcher's stream write, in one turn would hold every response back until the last. Default:
   * 250.
   */
  readonly deliveriesPerTurn?: number;
  /** Told of each delivered update, for metrics: when Redis published it (its clock, ms). */
  readonly onDeliver?: (operation: Operation, watchers: number, publishedMs: number) => void;
  /**
   * Told of failures the bus absorbs (a snapshot re-read that failed, a message that does not
   * parse). Default: nothing.
   */
  readonly onError?: (error: unknown) => void;
  /**
   * How often every watched operation's snapshot is re-read even when nothing suggests a lost
   * message, in ms; 0 turns it off. Pub/sub delivers at most once, and not every way a message
   * can be lost is visible to a client (a cluster subscriber moving to another node says nothing),
   * so this bounds how long a watcher can wait on a lost update. Default: 30000.
   */
  readonly resyncIntervalMs?: number;
}

interface Channel {
  readonly project: string;
  readonly name: string;
  readonly watchers: Set<WatcherQueue>;
  /** Resolves once Redis has confirmed the subscription. */
  readonly subscribed: Promise<unknown>;
  /** A snapshot read that is scheduled but not yet sent; watchers asking meanwhile share it. */
  nextRead: Promise<Operation | undefined> | undefined;
}

export interface OperationBus {
  /**
   * The operation's current version, then every newer one, ending after DONE. It subscribes
   * before it reads the snapshot, so no update can fall between the two; versions are strictly
   * increasing. Throws OperationNotFoundError for an unknown operation. Everything it holds is
   * released when the signal aborts or the consumer stops iterating.
   */
  watch(
    project: string,
    name: string,
    signal: AbortSignal,
  ): AsyncGenerator<Operation, void, undefined>;
  /** Channels subscribed and watchers attached, for tests and metrics. */
  stats(): { channels: number; watchers: number; resyncs: number };
  /** Stops the periodic re-read and any re-read in progress; the subscriber is closed by its owner. */
  close(): void;
}

/**
 * Fans operation updates out to every watcher in this process over one Redis subscriber
 * connection, however many watchers there are. Redis pub/sub delivers at most once, so after the
 * connection comes back it re-reads the snapshot of every watched operation.
 */
export function createOperationBus(options: OperationBusOptions): OperationBus {
  const { subscriber, store } = options;
  const { prefix } = options;
  const channels = new Map<string, Channel>();

  const deliver = (channel: Channel, operation: Operation) => {
    for (const watcher of channel.watchers) watcher.offer(operation);
  };

  // Messages wait here, in arrival order, until a turn has room for them.
  const inbox: { name: string; message: string }[] = [];
  let inboxHead = 0;
  let draining = false;
  const deliveriesPerTurn = options.deliveriesPerTurn ?? 250;

  function handle(name: string, message: string): number {
    const channel = channels.get(name);
    if (channel === undefined) return 0;
    // `<publish ms> <Operation JSON>`, as the WRITE script publishes it.
    const space = message.indexOf(" ");
    const operation = fromJson(
      OperationSchema,
      JSON.parse(message.slice(space + 1)) as JsonValue,
      UNKNOWN_FIELDS_IGNORED,
    );
    deliver(channel, operation);
    options.onDeliver?.(operation, channel.watchers.size, Number(message.slice(0, space)));
    return channel.watchers.size;
  }

  function drain(): void {
    let budget = deliveriesPerTurn;
    while (inboxHead < inbox.length && budget > 0) {
      const next = inbox[inboxHead++];
      if (next === undefined) continue;
      try {
        budget -= Math.max(1, handle(next.name, next.message));
      } catch (e) {
        // A message that does not parse is dropped, not allowed to stop the others.
        budget -= 1;
        options.onError?.(e);
      }
    }
    if (inboxHead < inbox.length) {
      setImmediate(drain);
      return;
    }
    inbox.length = 0;
    inboxHead = 0;
    draining = false;
  }

  subscriber.onMessage((name, message) => {
    inbox.push({ name, message });
    if (draining) return;
    draining = true;
    // After the current socket read: the whole read is queued first, then handled in turns.
    queueMicrotask(drain);
  });

  // Re-reads after anything that may have lost a message: the subscriber reconnected, the
  // cluster's topology changed (a failover moves a shard's subscriber to the new master), or
  // simply time passed. Requests while one runs fold into one more run after it.
  let closed = false;
  let resyncs = 0;
  let running: Promise<void> | undefined;
  let requested = false;
  function requestResync(): void {
    requested = true;
    running ??= (async () => {
      try {
        while (requested && !closed) {
          requested = false;
          await resyncUntilDone();
        }
      } finally {
        running = undefined;
      }
    })();
  }
  subscriber.onReconnect(requestResync);
  const interval = options.resyncIntervalMs ?? 30_000;
  const timer = interval > 0 ? setInterval(requestResync, interval) : undefined;
  timer?.unref();

  /**
   * Subscribes every channel again, then re-reads every snapshot, in that order (a message
   * published after the read arrives through the subscription). Retries with backoff until it
   * succeeds: a failed re-read skipped would leave watchers waiting on an update that is gone.
   */
  async function resyncUntilDone(): Promise<void> {
    for (let attempt = 0; !closed && channels.size > 0; attempt++) {
      try {
        const names = [...channels.keys()];
        await Promise.all(names.map((name) => subscriber.subscribe(name)));
        await Promise.all(
          [...channels.values()].map(async (channel) => {
            const snapshot = await store.get(channel.project, channel.name);
            if (snapshot !== undefined) {
              deliver(channel, snapshot);
              return;
            }
            // The record is gone (it expired): nothing will ever be published again, so its
            // watchers end with NOT_FOUND rather than wait forever.
            const gone = new OperationNotFoundError(
              `operation ${channel.name} not found in project ${channel.project} (its record expired)`,
            );
            for (const watcher of channel.watchers) watcher.fail(gone);
          }),
        );
        resyncs += 1;
        return;
      } catch (e) {
        options.onError?.(e);
        const delay = backoffDelay(attempt, { initialMs: 100, maxMs: 5000 });
        await new Promise((r) => setTimeout(r, delay).unref());
      }
    }
  }

  function join(project: string, name: string, watcher: WatcherQueue): Channel {
    const key = operationKeys(prefix, project, name).channel;
    let channel = channels.get(key);
    if (channel === undefined) {
      const subscribed = subscriber.subscribe(key).catch((e: unknown) => {
        throw redisError(e);
      });
      subscribed.catch(() => undefined); // the watcher awaiting it sees the error
      channel = { project, name, watchers: new Set(), subscribed, nextRead: undefined };
      channels.set(key, channel);
    }
    channel.watchers.add(watcher);
    return channel;
  }

  /**
   * The channel's snapshot for a watcher that has already joined it. Watchers asking in the same
   * microtask burst (say, ten clients opening a watch on one operation together) share one read.
   * A read is shared only by watchers that joined before it was sent, so none can miss an update
   * published between the read and its joining: those reach it through the channel.
   */
  function snapshotOf(channel: Channel): Promise<Operation | undefined> {
    if (channel.nextRead !== undefined) return channel.nextRead;
    const read = new Promise<void>((resolve) => {
      queueMicrotask(resolve);
    }).then(() => {
      channel.nextRead = undefined;
      return store.get(channel.project, channel.name);
    });
    channel.nextRead = read;
    return read;
  }

  function leave(channel: Channel, watcher: WatcherQueue): void {
    channel.watchers.delete(watcher);
    if (channel.watchers.size > 0) return;
    const key = operationKeys(prefix, channel.project, channel.name).channel;
    channels.delete(key);
    subscriber.unsubscribe(key).catch((e: unknown) => options.onError?.(e));
  }

  return {
    async *watch(project, name, signal) {
      const watcher = new WatcherQueue(signal, options.queueLimit);
      const channel = join(project, name, watcher);
      try {
        await abortable(channel.subscribed, signal);
        const snapshot = await abortable(snapshotOf(channel), signal);
        if (snapshot === undefined)
          throw new OperationNotFoundError(`operation ${name} not found in project ${project}`);
        watcher.offer(snapshot);
        for (;;) {
          const operation = await watcher.next();
          yield operation;
          if (operation.status === Operation_Status.DONE) return;
        }
      } finally {
        watcher.dispose();
        leave(channel, watcher);
      }
    },
    stats: () => ({
      channels: channels.size,
      watchers: [...channels.values()].reduce((n, c) => n + c.watchers.size, 0),
      resyncs,
    }),
    close() {
      closed = true;
      clearInterval(timer);
    },
  };
}

/** `promise`, or a rejection with the signal's reason as soon as it aborts; leaves no listener behind. */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      reject(signal.reason as Error);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
