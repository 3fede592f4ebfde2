import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { constants as zlibConstants, gunzipSync } from "node:zlib";
import type { AddressInfo } from "node:net";
import { handleAdmin } from "./admin-api";
import { ComputeFault, invalid, notFound } from "./compute-error";
import { Faults } from "./faults";
import { readBody, resetConnection, sendFault, sendJson } from "./http-io";
import { checkSourceKeys } from "./encryption";
import { Quotas } from "./quota";
import { checkRequestId, parseInsertBody } from "./insert-body";
import { applyFilter, applyOrder, page } from "./listing";
import { handleMetadata } from "./metadata-server";
import {
  applyConfigPatch,
  realMs,
  resolveEmulatorOptions,
  type EmulatorConfigPatch,
  type EmulatorOptions,
  type FaultRule,
} from "./options";
import { matchComputeRoute, type ComputeRoute } from "./routes";
import { IMPORT_HEAD_BYTES, openRawDiskArchive, type ImportOutcome } from "./raw-disk-archive";
import { ObjectStorage, type ObjectJson } from "./storage";
import { handleStorage, isStoragePath } from "./storage-api";
import { Store, type EmulatorState } from "./store";
import { doneAt } from "./timeline";
import { Tokens } from "./tokens";

/** Drives the emulator from a test in the same process. */
export interface EmulatorAdmin {
  /** Compute's state, and the Cloud Storage objects. */
  state(): EmulatorState & {
    readonly objects: ObjectJson[];
    /** Open resumable uploads, and every upload byte received (Storage.uploadsState). */
    readonly uploads: ReturnType<ObjectStorage["uploadsState"]>;
    /** Calls refused for Compute's rate quotas, by project and kind. */
    readonly quotaRefusals: Record<string, { write: number; read: number }>;
  };
  /** Forgets images, operations, requestIds, call counts and faults. Tokens stay valid. */
  reset(): void;
  /** Adds a rule; throws a RangeError saying what is wrong with a bad one (it may come from JSON). */
  addFault(rule: unknown): FaultRule;
  faults(): FaultRule[];
  clearFaults(): void;
  revokeTokens(): void;
  configure(patch: EmulatorConfigPatch): void;
  /**
   * Makes a source (a disk, image or snapshot, as a URL or `projects/P/...` path) encrypted with
   * `key` (Compute's CustomerEncryptionKey JSON): an insert from it then needs that key. Images
   * the emulator created are encrypted with their own `imageEncryptionKey` already.
   */
  encryptSource(source: string, key: Record<string, unknown>): void;
  config(): {
    operationDurationMs: number;
    waitCapMs: number;
    requestIdTtlMs: number;
    operationRetentionMs: number;
    timeScale: number;
    missingObjectPattern: string;
    quotaWritesPerMinute: number;
    quotaReadsPerMinute: number;
  };
}

export interface ComputeEmulator {
  /** Base URL, e.g. `http://127.0.0.1:39123`: the Compute rootUrl and the metadata host. */
  readonly url: string;
  /** `host:port`, the form `GCE_METADATA_HOST` takes. */
  readonly metadataHost: string;
  readonly admin: EmulatorAdmin;
  /** Stops listening, ends pending waits and drops open connections. */
  close(): Promise<void>;
}

/**
 * Starts a Compute Engine emulator: the images and globalOperations endpoints of Compute v1, a GCE
 * metadata server for google-auth-library, fault injection and an admin API, all on one port.
 * State lives in memory.
 */
export async function startComputeEmulator(input: EmulatorOptions = {}): Promise<ComputeEmulator> {
  const options = resolveEmulatorOptions(input);
  let baseUrl = "";
  const store = new Store(options, () => baseUrl);
  const quotas = new Quotas(
    () => ({
      writesPerMinute: options.quotaWritesPerMinute,
      readsPerMinute: options.quotaReadsPerMinute,
    }),
    () => options.timeScale,
  );
  const faults = new Faults(options.seed, options.faults, options.maxFailureStreak);
  const tokens = new Tokens(options.staticTokens, options.tokenTtlSeconds);
  const pendingWaits = new Set<() => void>();
  // Objects never uploaded exist as a valid archive, unless they match the missing pattern.
  const storage = new ObjectStorage(
    (bucket, name) =>
      options.unknownObjects === "valid" && !options.missingObject.test(`${bucket}/${name}`),
  );

  const admin: EmulatorAdmin = {
    state: () => ({
      ...store.state(Date.now()),
      objects: storage.all(),
      uploads: storage.uploadsState(),
      quotaRefusals: quotas.refusals(),
    }),
    reset: () => {
      store.reset();
      quotas.reset();
      storage.reset();
      faults.clear();
    },
    addFault: (rule) => faults.add(rule),
    faults: () => faults.list(),
    clearFaults: () => {
      faults.clear();
    },
    revokeTokens: () => {
      tokens.revokeAll();
    },
    configure: (patch) => {
      applyConfigPatch(options, patch);
    },
    encryptSource: (source, key) => {
      store.encryptSource(source, key);
    },
    config: () => ({
      operationDurationMs: options.operationDurationMs,
      waitCapMs: options.waitCapMs,
      requestIdTtlMs: options.requestIdTtlMs,
      operationRetentionMs: options.operationRetentionMs,
      timeScale: options.timeScale,
      missingObjectPattern: options.missingObject.source,
      quotaWritesPerMinute: options.quotaWritesPerMinute,
      quotaReadsPerMinute: options.quotaReadsPerMinute,
    }),
  };

  /** Throws 401 in Google's shape unless the call carries a token the emulator issued or accepts. */
  function authorize(req: IncomingMessage): void {
    const auth = req.headers.authorization ?? "";
    const token = /^Bearer\s+(\S+)$/i.exec(auth)?.[1];
    if (token === undefined)
      throw unauthenticated(
        "required",
        "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
      );
    if (!tokens.accepts(token, Date.now()))
      throw unauthenticated("authError", "Invalid Credentials");
  }

  /** Answers a Compute call after auth, counting and faults. */
  async function compute(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    route: ComputeRoute,
  ): Promise<void> {
    authorize(req);
    const body = await readBody(req);
    const requestId = url.searchParams.get("requestId");
    store.countCall(route.method, requestId);
    store.recordTraceparent(route.method, req.headers.traceparent?.toString());
    quotas.take(route.method, route.project, Date.now());
    const decision = faults.decide(route.method, requestId ?? route.name);
    if (decision.latencyMs > 0) await new Promise((r) => setTimeout(r, decision.latencyMs));
    if (decision.before === "reset") {
      resetConnection(res);
      return;
    }
    if (decision.before === "notFound") throw notFound(resourceOf(route));
    if (decision.before !== undefined) throw decision.before;

    const result = await perform(route, url, body, decision.waitEarly, res);
    if (result === undefined) return; // the client left while waiting
    if (decision.after === "reset") {
      resetConnection(res);
      return;
    }
    if (decision.after !== undefined) throw decision.after;
    if (result === null) {
      res.writeHead(204).end();
      return;
    }
    sendJson(res, 200, result);
  }

  /**
   * What each stored archive opened to, by object generation: a generation's bytes never change,
   * so neither does what Compute's import finds in them. Bounded; cleared when full.
   */
  const imports = new Map<string, ImportOutcome>();

  /**
   * Opens the archive `BUCKET/OBJECT` as Compute's import would: its first bytes, as Cloud
   * Storage would hand them to Compute (a gzip Content-Encoding is transcoded away).
   */
  function importRawDisk(object: string): ImportOutcome {
    const slash = object.indexOf("/");
    const bucket = object.slice(0, slash);
    let name = object.slice(slash + 1);
    try {
      name = decodeURIComponent(name);
    } catch {
      // Not percent-encoded: the name as written.
    }
    let meta: ObjectJson;
    try {
      meta = storage.metadata(bucket, name);
    } catch {
      return {
        ok: false,
        code: "RESOURCE_NOT_FOUND",
        message: `The resource 'https://storage.googleapis.com/${object}' was not found`,
        httpStatus: 404,
      };
    }
    const key = `${bucket}/${name}#${meta.generation}#${meta.contentEncoding ?? ""}`;
    const known = imports.get(key);
    if (known !== undefined) return known;
    let head = storage.read(bucket, name, 0, IMPORT_HEAD_BYTES - 1);
    if (meta.contentEncoding === "gzip") {
      try {
        head = gunzipSync(head, { finishFlush: zlibConstants.Z_SYNC_FLUSH });
      } catch {
        // Not even gzip: Compute gets the bytes as they are.
      }
    }
    const outcome = openRawDiskArchive(head, Number(meta.size));
    if (imports.size >= 10_000) imports.clear();
    imports.set(key, outcome);
    return outcome;
  }

  /** A call's JSON body; an empty one is `{}` (images.deprecate clears with it). */
  function jsonBody(text: string): unknown {
    if (text.trim() === "") return {};
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw invalid("Invalid JSON payload received. Unexpected token.");
    }
  }

  /** A mutating call's requestId, checked as images.insert checks it. */
  function checkedRequestId(url: URL): string | null {
    const requestId = url.searchParams.get("requestId");
    checkRequestId(requestId);
    return requestId;
  }
  const mutation = (url: URL, now: number) => ({
    user: options.serviceAccountEmail,
    now,
    requestId: checkedRequestId(url),
  });

  /** Does the work of one Compute method; null means an empty answer. */
  async function perform(
    route: ComputeRoute,
    url: URL,
    body: string,
    waitEarly: boolean,
    res: ServerResponse,
  ): Promise<unknown> {
    const { project } = route;
    const name = route.name ?? "";
    const now = Date.now();
    /** A page of a list method's answer: `compute#imageList` and the like. */
    const listOf = (kind: string, collection: string, items: Record<string, unknown>[]) => ({
      kind,
      id: `projects/${project}/global/${collection}`,
      ...listPage(items, url),
    });
    switch (route.method) {
      case "images.insert": {
        const requestId = url.searchParams.get("requestId");
        checkRequestId(requestId);
        const insert = parseInsertBody(body);
        checkSourceKeys(insert.json, (_field, reference) =>
          store.sourceEncryption(project, reference),
        );
        return store.insertImage(
          project,
          insert,
          requestId,
          options.serviceAccountEmail,
          now,
          insert.rawDiskObject === undefined ? undefined : importRawDisk(insert.rawDiskObject),
        );
      }
      case "images.get":
        return store.getImage(project, name, now);
      case "images.list":
        return listOf("compute#imageList", "images", store.listImages(project, now));
      case "images.delete":
        return store.deleteImage(
          project,
          name,
          options.serviceAccountEmail,
          now,
          checkedRequestId(url),
        );
      case "images.deprecate":
        return store.deprecateImage(project, name, jsonBody(body), mutation(url, now));
      case "images.setLabels":
        return store.setLabels(project, name, jsonBody(body), mutation(url, now));
      case "images.getFromFamily":
        return store.imageFromFamily(project, name, now);
      case "images.getIamPolicy":
        return store.getIamPolicy(project, name);
      case "images.setIamPolicy":
        return store.setIamPolicy(project, name, jsonBody(body));
      case "images.testIamPermissions":
        return store.testIamPermissions(project, name, jsonBody(body));
      case "globalOperations.get":
        return store.getOperation(project, name, now);
      case "globalOperations.list":
        return listOf("compute#operationList", "operations", store.listOperations(project, now));
      case "globalOperations.delete":
        store.deleteOperation(project, name);
        return null;
      case "globalOperations.wait": {
        const timeline = store.operationTimeline(project, name, now);
        const until = waitEarly
          ? now
          : Math.min(doneAt(timeline), now + realMs(options, options.waitCapMs));
        // A timer counts from the event loop's cached clock, so it can fire a little before
        // `until` on Date.now(); sleep out the rest rather than answer RUNNING a moment early.
        for (let left = until - now; left > 0; left = until - Date.now()) {
          if (!(await sleepUnlessGone(left, res))) return undefined;
        }
        return store.getOperation(project, name, Date.now());
      }
      default:
        throw new ComputeFault(404, "notFound", `Unknown method ${route.method}`);
    }
  }

  /** Sleeps, unless the client disconnects or the emulator closes first; true if it slept fully. */
  function sleepUnlessGone(ms: number, res: ServerResponse): Promise<boolean> {
    return new Promise((resolve) => {
      const finish = (slept: boolean) => {
        clearTimeout(timer);
        res.off("close", gone);
        pendingWaits.delete(gone);
        resolve(slept);
      };
      const gone = () => {
        finish(false);
      };
      const timer = setTimeout(() => {
        finish(true);
      }, ms);
      res.on("close", gone);
      pendingWaits.add(gone);
    });
  }

  function listPage(items: Record<string, unknown>[], url: URL) {
    const filtered = applyFilter(items, url.searchParams.get("filter"));
    const ordered = applyOrder(filtered, url.searchParams.get("orderBy"));
    return page(ordered, url.searchParams.get("maxResults"), url.searchParams.get("pageToken"));
  }

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://emulator.invalid");
      try {
        if (url.pathname.startsWith("/computeMetadata/")) {
          handleMetadata(req, res, url, {
            options,
            tokens,
            faults,
            countCall: (r) => {
              store.countCall(r, null);
            },
          });
          return;
        }
        if (url.pathname === "/healthz") {
          sendJson(res, 200, { status: "ok" });
          return;
        }
        if (url.pathname.startsWith("/admin/")) {
          await handleAdmin(req, res, url, admin);
          return;
        }
        if (isStoragePath(url.pathname)) {
          // As in Cloud Storage, a resumable upload's session URI is its own credential.
          if (url.searchParams.get("upload_id") === null) authorize(req);
          const storageRoute = `storage.${(req.method ?? "GET").toLowerCase()}`;
          store.countCall(storageRoute, null);
          const decision = faults.decide(storageRoute);
          if (decision.latencyMs > 0) await new Promise((r) => setTimeout(r, decision.latencyMs));
          if (decision.before === "reset") {
            resetConnection(res);
            return;
          }
          if (decision.before === "notFound") throw notFound(url.pathname);
          if (decision.before !== undefined) throw decision.before;
          await handleStorage(req, res, url, storage, baseUrl);
          return;
        }
        const route = matchComputeRoute(req.method ?? "GET", url.pathname);
        if (route === undefined)
          throw new ComputeFault(
            404,
            "notFound",
            `The requested URL ${url.pathname} was not found on this server.`,
          );
        await compute(req, res, url, route);
      } catch (e) {
        if (res.headersSent || res.destroyed) return;
        if (e instanceof ComputeFault) sendFault(res, e);
        else
          sendFault(
            res,
            new ComputeFault(
              500,
              "backendError",
              `Emulator error: ${e instanceof Error ? e.message : String(e)}`,
            ),
          );
      }
    })();
  });
  // Waits last up to the cap (2 minutes by default); keep connections alive past it.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, resolve);
  });
  const address = server.address() as AddressInfo;
  const unspecified = address.address === "0.0.0.0" || address.address === "::";
  const host = unspecified
    ? "127.0.0.1"
    : address.family === "IPv6"
      ? `[${address.address}]`
      : address.address;
  baseUrl = options.baseUrl ?? `http://${host}:${address.port}`;
  const sweeper = setInterval(() => {
    store.expire(Date.now());
  }, 60_000);
  sweeper.unref();

  return {
    url: baseUrl,
    metadataHost: `${host}:${address.port}`,
    admin,
    async close() {
      clearInterval(sweeper);
      storage.close();
      for (const end of [...pendingWaits]) end();
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      });
    },
  };
}

function unauthenticated(reason: string, message: string): ComputeFault {
  return new ComputeFault(401, reason, message, {
    location: "Authorization",
    locationType: "header",
  });
}

/** The resource a Compute call names, as Compute's 404 message gives it. */
function resourceOf(route: ComputeRoute): string {
  const collection = route.method.startsWith("images.") ? "images" : "operations";
  return `projects/${route.project}/global/${collection}${route.name === undefined ? "" : `/${route.name}`}`;
}
