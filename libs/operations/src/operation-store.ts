import { UnreadableRecordError } from "./errors";
import { fromJson, toJsonString, type JsonValue } from "@bufbuild/protobuf";
import { UNKNOWN_FIELDS_IGNORED } from "./json-options";
import { Operation_Status, OperationSchema, type Operation } from "@imagesvc/proto";
import {
  guardRedisCalls,
  isWrongType,
  publishCommand,
  type PubSubMode,
  type RedisClient,
} from "@imagesvc/redis";
import {
  indexBoundBefore,
  indexMember,
  nameOfMember,
  operationKeys,
  projectsKey,
  HISTORY_MAX,
  RECORD_FIELDS,
  requestIdKey,
} from "./keys";
import { defineOperationScripts } from "./scripts";

export interface OperationStoreOptions {
  /** Commands go here; the store never blocks or subscribes on it. */
  readonly redis: RedisClient;
  /** How updates are published; subscribers must use the same mode (the deployment's, agreed in Redis). */
  readonly pubsub: PubSubMode;
  /** Key prefix, shared by every process of one deployment (REDIS_PREFIX). */
  readonly prefix: string;
  /** How long records, request ids and index entries are kept after their last change, in ms (RECORD_RETENTION_MS). */
  readonly retentionMs: number;
}

/** What `create` stores besides the operation: the request, to detect a reused id and to re-run. */
export interface CreateInput {
  readonly operation: Operation;
  readonly requestId: string;
  /** A digest of the request's content; a repeat of the request id must carry the same one. */
  readonly fingerprint: string;
  /** The request as stored (libs/queue's StoredRequest, JSON): what a worker runs it from. */
  readonly request: string;
  /** The request's webhook (libs/queue's Notification, JSON), or "" for none. */
  readonly notification: string;
  /** The operation's lifecycle state, as its owner (libs/lifecycle) encodes it; sequence 0. */
  readonly lifecycle: string;
}

export type CreateResult =
  | { readonly created: true; readonly operation: Operation }
  | { readonly created: false; readonly operation: Operation; readonly fingerprint: string };

export interface StoredOperation {
  readonly operation: Operation;
  /** The stored request JSON; "" once the operation is DONE (it may have held a sealed key). */
  readonly request: string;
  /** The request's webhook JSON; "" when it asked for none. */
  readonly notification: string;
  readonly createdMs: number;
  /** The lifecycle state as stored, or undefined for a record written before lifecycles existed. */
  readonly lifecycle: string | undefined;
  /** The lifecycle's sequence number: `commit` succeeds only against the current one. */
  readonly seq: number;
}

/** One step of an operation's lifecycle, and the version of the operation it produces, if any. */
export interface RecordedHistory {
  readonly versions: Operation[];
  /** The stored request JSON (libs/queue's StoredRequest), or "" if the record keeps none. */
  readonly request: string;
  /** The webhook JSON (libs/queue's Notification), or "" for none. */
  readonly notification: string;
}

export interface Commit {
  readonly project: string;
  readonly name: string;
  /** The sequence number the step was decided on; the commit fails if the record moved on. */
  readonly expectedSeq: number;
  /** The new lifecycle state. */
  readonly lifecycle: string;
  /** The next version of the operation, if the step changes what callers see. */
  readonly operation?: Operation;
}

export type CommitResult =
  | {
      readonly status: "committed";
      readonly seq: number;
      /** The version written, or undefined when the operation did not change. */
      readonly version: number | undefined;
    }
  | { readonly status: "conflict" | "missing" };

/** A page of operation names; pass `cursor` back for the next page, "" means the end. */
export interface NamePage {
  readonly names: string[];
  readonly cursor: string;
}

export interface ListOptions {
  readonly status?: Operation_Status;
  /** 1-500; 0 or unset means 500. */
  readonly maxResults?: number;
  readonly pageToken?: string;
}

export interface OperationStore {
  /**
   * Records a new PENDING operation (version 1), unless the project already has one for this
   * request id: then that one is returned with its fingerprint, and nothing is written.
   */
  create(input: CreateInput): Promise<CreateResult>;
  /** The latest version, or undefined for an unknown (or expired) operation. */
  get(project: string, name: string): Promise<Operation | undefined>;
  /** The operation a project's request id created, if it is still remembered. */
  forRequest(project: string, requestId: string): Promise<Operation | undefined>;
  /** The latest version with its stored request, lifecycle and webhook: what a step starts from. */
  getStored(project: string, name: string): Promise<StoredOperation | undefined>;
  /**
   * Every version the record keeps (the newest HISTORY_MAX), oldest first, the latest last;
   * with the request it ran from (stored JSON, sealed keys left out once DONE) and its webhook.
   * Undefined for an unknown operation.
   */
  history(project: string, name: string): Promise<RecordedHistory | undefined>;
  /** A project's operations, newest first, one page at a time. */
  list(
    project: string,
    options?: ListOptions,
  ): Promise<{ items: Operation[]; nextPageToken: string }>;
  /**
   * Writes `operation` as the next version and publishes it, if it is a step forward (see
   * lua/write-operation.lua). Returns the new version, or undefined when nothing was written.
   */
  update(operation: Operation): Promise<number | undefined>;
  /**
   * Commits a lifecycle step (compare-and-set on its sequence number) together with the
   * operation version it produces, atomically; see lua/write-operation.lua.
   */
  commit(step: Commit): Promise<CommitResult>;
  /**
   * Names of a project's operations in `status` created before `beforeMs`, oldest first, one page
   * at a time: start with cursor "", go on with the cursor each page returns until it is "".
   */
  namesCreatedBefore(
    project: string,
    status: Operation_Status,
    beforeMs: number,
    options: { readonly limit: number; readonly cursor?: string },
  ): Promise<NamePage>;
  /** Every project that has had an operation created within the retention period. */
  projects(): Promise<string[]>;
}

/** The versioned, monotonic operation records, their indexes and their retention. */
export function createOperationStore(options: OperationStoreOptions): OperationStore {
  const { redis } = options;
  const { prefix, retentionMs } = options;
  const publish = publishCommand(options.pubsub);
  // When this process last marked each project active (the sweeper walks the active ones): a busy
  // gateway then pays the ZADD once a minute per project, not once per CreateImage. Bounded.
  const markedAt = new Map<string, number>();
  const scripts = defineOperationScripts(redis);
  // How long after a renewal an index (or after its create, a record) may go without one: a
  // write within it adds nothing that outlives the expiry already set (see the scripts' headers).
  const ttlSlackMs = Math.min(60_000, Math.floor(retentionMs / 16));
  const indexes = indexExpiries(retentionMs + ttlSlackMs, ttlSlackMs);

  /** The JSON stored and published: the operation without its version, which Redis owns. */
  const body = (op: Operation) =>
    toJsonString(OperationSchema, op.version === 0 ? op : { ...op, version: 0 });
  /** A stored Operation JSON; its version is `version`, or the JSON's own (`withVersion`). */
  const parse = (json: string, version: string | undefined, withVersion = false): Operation => {
    // Fields a newer release added are skipped, not an error: during a rolling upgrade old and
    // new processes read each other's records (docs/design.md, "Rolling upgrades").
    let op: Operation;
    try {
      op = fromJson(OperationSchema, JSON.parse(json) as JsonValue, UNKNOWN_FIELDS_IGNORED);
    } catch (e) {
      throw new UnreadableRecordError(
        `the stored operation is not Operation JSON (${e instanceof Error ? e.message : String(e)})`,
        { cause: e },
      );
    }
    if (!withVersion) op.version = Number(version ?? 0);
    return op;
  };
  const createdMs = (op: Operation) => Date.parse(op.insertTime);
  /** Fields of one record, by their RECORD_FIELDS names, in one HMGET; WRONGTYPE is unreadable. */
  const readRecord = (project: string, name: string, ...fields: (keyof typeof RECORD_FIELDS)[]) =>
    redis
      .hmget(operationKeys(prefix, project, name).record, ...fields.map((f) => RECORD_FIELDS[f]))
      .catch(unreadableIfWrongType);

  /** Runs write-operation.lua; see its header for the arguments and the answer. */
  const write = (
    expectedSeq: string,
    lifecycle: string,
    operation: Operation | undefined,
    address?: { project: string; name: string },
  ): Promise<[number, number, number, number?]> => {
    const project = operation?.project ?? address?.project ?? "";
    const name = operation?.name ?? address?.name ?? "";
    const keys = operationKeys(prefix, project, name);
    // Only the DONE and all-operations indexes' renewal at DONE is left to this process's memory
    // (the scripts say why).
    const entered =
      operation?.status === Operation_Status.DONE
        ? [keys.byStatus(Operation_Status.DONE), keys.all]
        : [];
    return indexes.renewing(
      entered,
      (indexTtlMs) =>
        scripts.writeOperation(
          {
            recordKey: keys.record,
            pendingIndexKey: keys.byStatus(Operation_Status.PENDING),
            runningIndexKey: keys.byStatus(Operation_Status.RUNNING),
            doneIndexKey: keys.byStatus(Operation_Status.DONE),
            allIndexKey: keys.all,
          },
          {
            expectedSeq,
            lifecycle,
            status: operation === undefined ? "" : operation.status,
            progress: operation?.progress ?? 0,
            operation: operation === undefined ? "" : body(operation),
            retentionMs,
            channel: keys.channel,
            indexMember:
              operation === undefined ? "" : indexMember(createdMs(operation), operation.name),
            publishCommand: publish,
            expiredMembersFrom: indexBoundBefore(Date.now() - retentionMs),
            historyMax: HISTORY_MAX,
            publishedMs: Date.now(),
            recordTtlSlackMs: ttlSlackMs,
            doneIndexTtlMs: indexTtlMs,
          },
        ),
      (answer) => answer[3] === 1,
    );
  };

  const store: OperationStore = {
    async forRequest(project, requestId) {
      const name = await redis.get(requestIdKey(prefix, project, requestId));
      return name === null ? undefined : store.get(project, name);
    },
    async create(input) {
      const { operation, requestId, fingerprint, request, notification, lifecycle } = input;
      const keys = operationKeys(prefix, operation.project, operation.name);
      const ct = createdMs(operation);
      const now = Date.now();
      if (now - (markedAt.get(operation.project) ?? 0) > 60_000) {
        await redis
          .multi()
          .zadd(projectsKey(prefix), now, operation.project)
          .pexpire(projectsKey(prefix), retentionMs + 60_000)
          .exec();
        if (markedAt.size >= 10_000) markedAt.clear();
        markedAt.set(operation.project, now);
      }
      const [created, name] = await indexes.renewing(
        [keys.all],
        (indexTtlMs) =>
          scripts.createOperation(
            {
              requestIdKey: requestIdKey(prefix, operation.project, requestId),
              recordKey: keys.record,
              allIndexKey: keys.all,
              pendingIndexKey: keys.byStatus(Operation_Status.PENDING),
            },
            {
              name: operation.name,
              fingerprint,
              operation: body(operation),
              request,
              notification,
              createdMs: ct,
              indexMember: indexMember(ct, operation.name),
              retentionMs,
              expiredMembersFrom: indexBoundBefore(Date.now() - retentionMs),
              lifecycle,
              allIndexTtlMs: indexTtlMs,
            },
          ),
        ([created]) => created === 1,
      );
      // A shallow copy (cheaper than a clone): the caller's operation keeps its version 0.
      if (created === 1) return { created: true, operation: { ...operation, version: 1 } };
      const [json, version, rh] = await readRecord(
        operation.project,
        name,
        "operation",
        "version",
        "fingerprint",
      );
      if (json == null) {
        // The request id outlived its record (both expire; the record went first). Treat the
        // id as free: the caller's retry will create a new operation.
        await redis.del(requestIdKey(prefix, operation.project, requestId));
        return store.create(input);
      }
      return {
        created: false,
        operation: parse(json, version ?? undefined),
        fingerprint: rh ?? "",
      };
    },

    async get(project, name) {
      const [json, version] = await readRecord(project, name, "operation", "version");
      return json == null ? undefined : parse(json, version ?? undefined);
    },

    async history(project, name) {
      const [json, version, history, rq, rv, nt] = await readRecord(
        project,
        name,
        "operation",
        "version",
        "history",
        "request",
        "requestView",
        "notification",
      );
      if (json == null) return undefined;
      // A line this release cannot read is left out, not the whole history.
      const earlier = (history ?? "").split("\n").flatMap((line) => {
        if (line === "") return [];
        try {
          return [parse(line, undefined, true)];
        } catch {
          return [];
        }
      });
      return {
        versions: [...earlier, parse(json, version ?? undefined)],
        // At DONE the stored request is emptied and its view kept.
        request: rq != null && rq !== "" ? rq : (rv ?? ""),
        notification: nt ?? "",
      };
    },

    async getStored(project, name) {
      const [json, version, rq, ct, lc, ls, nt] = await readRecord(
        project,
        name,
        "operation",
        "version",
        "request",
        "createdMs",
        "lifecycle",
        "lifecycleSeq",
        "notification",
      );
      if (json == null) return undefined;
      return {
        operation: parse(json, version ?? undefined),
        request: rq ?? "",
        notification: nt ?? "",
        createdMs: Number(ct),
        lifecycle: lc ?? undefined,
        seq: Number(ls ?? 0),
      };
    },

    async list(project, { status, maxResults, pageToken } = {}) {
      const size = maxResults === undefined || maxResults === 0 ? 500 : maxResults;
      const keys = operationKeys(prefix, project, "");
      const index =
        status === undefined || status === Operation_Status.STATUS_UNSPECIFIED
          ? keys.all
          : keys.byStatus(status);
      let cursor =
        pageToken === undefined || pageToken === ""
          ? "-"
          : `(${Buffer.from(pageToken, "base64url").toString()}`;
      const items: Operation[] = [];
      // An index member can outlive its record by a little (records expire on their own; members
      // go when a later write trims the index). Such members are removed as they are met, and the
      // page is filled from further on, reading at most a few pages' worth per call.
      for (let scanned = 0; scanned < size * 4;) {
        const members = await redis.zrangebylex(
          index,
          cursor,
          "+",
          "LIMIT",
          0,
          size - items.length + 1,
        );
        const page = members.slice(0, size - items.length);
        if (page.length === 0) return { items, nextPageToken: "" };
        scanned += page.length;
        const pipeline = redis.pipeline();
        for (const member of page)
          pipeline.hmget(
            operationKeys(prefix, project, nameOfMember(member)).record,
            RECORD_FIELDS.operation,
            RECORD_FIELDS.version,
          );
        const gone: string[] = [];
        for (const [i, [error, value]] of ((await pipeline.exec()) ?? []).entries()) {
          if (error) throw error;
          const [json, version] = value as (string | null)[];
          if (json != null) items.push(parse(json, version ?? undefined));
          else gone.push(page[i] ?? "");
        }
        if (gone.length > 0) await redis.zrem(index, ...gone);
        const last = page.at(-1) ?? "";
        const more = members.length > page.length;
        if (items.length >= size || !more)
          return {
            items,
            nextPageToken: more ? Buffer.from(last).toString("base64url") : "",
          };
        cursor = `(${last}`;
      }
      return { items, nextPageToken: Buffer.from(cursor.slice(1)).toString("base64url") };
    },

    async update(operation) {
      const [, , version] = await write("", "", operation);
      return version > 0 ? version : undefined;
    },

    async commit({ project, name, expectedSeq, lifecycle, operation }) {
      const [ok, seq, version] = await write(String(expectedSeq), lifecycle, operation, {
        project,
        name,
      });
      if (ok === -1) return { status: "missing" };
      if (ok === 0) return { status: "conflict" };
      return { status: "committed", seq, version: version > 0 ? version : undefined };
    },

    async namesCreatedBefore(project, status, beforeMs, { limit, cursor = "" }) {
      const index = operationKeys(prefix, project, "").byStatus(status);
      // Oldest first: the end of the index. Members older than beforeMs sort after its bound; a
      // cursor is the last member of the previous page, exclusive.
      const top = cursor === "" ? "+" : `(${cursor}`;
      const members = await redis.zrevrangebylex(
        index,
        top,
        indexBoundBefore(beforeMs),
        "LIMIT",
        0,
        limit,
      );
      const last = members.at(-1);
      return {
        names: members.map(nameOfMember),
        cursor: members.length === limit && last !== undefined ? last : "",
      };
    },

    async projects() {
      // A project with no operation created within the retention has no records left to sweep.
      const cutoff = Date.now() - retentionMs - 60_000;
      await redis.zremrangebyscore(projectsKey(prefix), "-inf", cutoff);
      return redis.zrangebyscore(projectsKey(prefix), cutoff, "+inf");
    },
  };
  // Every failure of Redis to answer reaches callers as a RedisUnavailableError.
  return guardRedisCalls(store);
}

/**
 * When this process last renewed each index's expiry. A renewal gives the index `ttlMs` (the
 * retention and `slackMs` more), so members added within `slackMs` after it, whose records live
 * the retention, cannot outlive the index: those writes leave its expiry alone. A busy index
 * costs one PEXPIRE per process per `slackMs`, not one per write. Bounded.
 */
function indexExpiries(ttlMs: number, slackMs: number) {
  const renewedAt = new Map<string, number>();
  return {
    /**
     * Runs `write` with the TTL to give `keys`, or '' when none is due, and marks them renewed
     * when `renewed` says its answer did renew them.
     */
    async renewing<T>(
      keys: readonly string[],
      write: (indexTtlMs: number | "") => Promise<T>,
      renewed: (answer: T) => boolean,
    ): Promise<T> {
      const now = Date.now();
      const due = keys.some((key) => now - (renewedAt.get(key) ?? -Infinity) >= slackMs);
      const result = await write(due ? ttlMs : "");
      if (due && renewed(result)) {
        if (renewedAt.size >= 10_000) renewedAt.clear();
        for (const key of keys) renewedAt.set(key, now);
      }
      return result;
    },
  };
}

/** A record's key that holds no hash (WRONGTYPE) is a record that cannot be read, not an outage. */
function unreadableIfWrongType(e: unknown): never {
  if (isWrongType(e))
    throw new UnreadableRecordError("the record's key holds no hash", { cause: e });
  throw e;
}
