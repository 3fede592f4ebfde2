import { fromJson, isMessage, toJson, type JsonObject } from "@bufbuild/protobuf";
import { ImageSchema, OperationSchema, type Image, type Operation } from "@imagesvc/proto";
import { GoogleAuth, type AuthClient } from "google-auth-library";
import { request } from "undici";
import { ComputeApiError } from "./compute-api-error";
import { followOperation, type FollowOptions } from "./follow-operation";
import { linkedSignal } from "@imagesvc/runtime";

/** The OAuth scope Compute calls need. */
export const COMPUTE_SCOPE = "https://www.googleapis.com/auth/compute";

/** Credentials for Compute calls: a GoogleAuth (ADC) or any google-auth-library client. */
export type ComputeAuth = GoogleAuth | AuthClient;

/** One finished call, for metrics and logs. */
export interface ComputeCallRecord {
  /** `images.insert`, `globalOperations.wait`, … */
  readonly method: string;
  /** HTTP status, or 0 when no answer came. */
  readonly status: number;
  /** The error reason, or "" on success. */
  readonly reason: string;
  readonly durationMs: number;
}

export interface ComputeClientOptions {
  /** Compute's base URL (COMPUTE_ENDPOINT, or https://compute.googleapis.com). */
  readonly endpoint: string;
  /**
   * Credentials. Default: `new GoogleAuth({ scopes: [COMPUTE_SCOPE] })`, i.e. Application Default
   * Credentials: `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's file, or the metadata server
   * (`GCE_METADATA_HOST` points it elsewhere, e.g. at the emulator).
   */
  readonly auth?: ComputeAuth;
  /** Timeout of each call but `wait`, in ms (COMPUTE_TIMEOUT_MS). */
  readonly timeoutMs: number;
  /** Timeout of a `wait` call, in ms, above Compute's 2-minute wait (COMPUTE_WAIT_TIMEOUT_MS). */
  readonly waitTimeoutMs: number;
  /** Told of every call's outcome (metrics, logs). Default: nothing. */
  readonly onCall?: (call: ComputeCallRecord) => void;
  /** Extra request headers on every call (e.g. `traceparent`). Default: none. */
  readonly headers?: () => Record<string, string>;
  /**
   * A budget of Compute's per-project rate quotas that every caller shares (the worker's is in
   * Redis): each call takes its turn first, and a refusal for the quota is reported. Default:
   * none, every call goes at once.
   */
  readonly quota?: ComputeQuota;
}

/** Compute's API rate quotas, by project and kind of call, shared by every caller. */
export interface ComputeQuota {
  /** Waits until `method` may be called in `project` (aborted by `signal`). */
  take(method: string, project: string, signal?: AbortSignal): Promise<void>;
  /** Compute refused a call of `method` in `project` for its quota: slow everyone down. */
  refused(method: string, project: string): Promise<void>;
}

export interface CallOptions {
  /** Aborting it ends the call at once with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Extra headers for this call, e.g. the W3C `traceparent` of the job it serves. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** A Compute image resource as Compute returns it; only the fields this project reads are typed. */
export interface ComputeImage {
  readonly name: string;
  readonly id?: string;
  readonly status?: "PENDING" | "READY" | "FAILED" | "DELETING";
  readonly selfLink?: string;
  readonly [field: string]: unknown;
}

/** Compute's DeprecationStatus, as images.deprecate takes it and images.get shows it. */
export interface DeprecationStatus {
  readonly state: "ACTIVE" | "DEPRECATED" | "OBSOLETE" | "DELETED";
  /** The image that replaces this one, as `projects/P/global/images/NAME` or its URL. */
  readonly replacement?: string;
  /** RFC 3339 times of the moves planned (informational: Compute enacts none of them). */
  readonly deprecated?: string;
  readonly obsolete?: string;
  readonly deleted?: string;
}

/** An IAM policy as Compute's images.getIamPolicy answers it. */
export interface IamPolicy {
  readonly version?: number;
  /** Read-modify-write token: setImageIamPolicy with a stale one is refused (412). */
  readonly etag: string;
  readonly bindings?: readonly { readonly role: string; readonly members: readonly string[] }[];
}

/** What a mutating call carries: the request id that makes repeats one call. */
export type MutationOptions = CallOptions & { readonly requestId: string };

export interface ComputeClient {
  /**
   * Finds the credentials and takes a token, as the first call would. A worker does it at start,
   * so that its first call does not wait for Application Default Credentials to be found (about
   * half a second: the library asks gcloud and the metadata server for a project on the way).
   */
  credentials(): Promise<void>;
  /**
   * `images.insert`. `requestId` must be the same on every attempt of one logical insert: Compute
   * then treats repeats as one request and never creates a second image.
   */
  insertImage(
    project: string,
    image: Image | JsonObject,
    options: CallOptions & { readonly requestId: string; readonly forceCreate?: boolean },
  ): Promise<Operation>;
  /** `globalOperations.get`. */
  getOperation(project: string, operation: string, options?: CallOptions): Promise<Operation>;
  /** `globalOperations.wait`: returns at DONE or near Compute's 2-minute deadline, or earlier (best effort). */
  waitOperation(project: string, operation: string, options?: CallOptions): Promise<Operation>;
  /** `images.get`. */
  getImage(project: string, image: string, options?: CallOptions): Promise<ComputeImage>;
  /** Follows an operation to DONE with `wait`; see `followOperation`. */
  followOperation(project: string, operation: string, options?: FollowOptions): Promise<Operation>;
  /** `images.getFromFamily`: the newest image of the family that is not deprecated. */
  getImageFromFamily(project: string, family: string, options?: CallOptions): Promise<ComputeImage>;
  /** `images.list`, every page, with Compute's `filter` and `orderBy`. */
  listImages(
    project: string,
    query?: { readonly filter?: string; readonly orderBy?: string },
    options?: CallOptions,
  ): Promise<ComputeImage[]>;
  /** `images.deprecate`: sets the status, or clears it with `undefined`. */
  deprecateImage(
    project: string,
    image: string,
    status: DeprecationStatus | undefined,
    options: MutationOptions,
  ): Promise<Operation>;
  /** `images.delete`. */
  deleteImage(project: string, image: string, options: MutationOptions): Promise<Operation>;
  /** `images.setLabels`, under the `labelFingerprint` the caller read (412 when stale). */
  setImageLabels(
    project: string,
    image: string,
    labels: Readonly<Record<string, string>>,
    labelFingerprint: string,
    options: MutationOptions,
  ): Promise<Operation>;
  /** `images.getIamPolicy`. */
  getImageIamPolicy(project: string, image: string, options?: CallOptions): Promise<IamPolicy>;
  /** `images.setIamPolicy`, under the policy's `etag` (412 when another write came first). */
  setImageIamPolicy(
    project: string,
    image: string,
    policy: IamPolicy,
    options?: CallOptions,
  ): Promise<IamPolicy>;
}

/**
 * A Compute REST client for the calls this service makes. Calls reuse connections (undici keeps
 * them alive), each has a timeout, and failures become ComputeApiError. A 401 refreshes the
 * credentials and retries once; every other retry is the caller's decision, guided by
 * `error.retryable`.
 */
export function createComputeClient(options: ComputeClientOptions): ComputeClient {
  const endpoint = options.endpoint.replace(/\/$/, "");
  const auth = options.auth ?? new GoogleAuth({ scopes: [COMPUTE_SCOPE] });
  const { timeoutMs, waitTimeoutMs } = options;

  const authClient = async (): Promise<AuthClient> =>
    auth instanceof GoogleAuth ? await auth.getClient() : auth;

  async function call(
    method: string,
    httpMethod: string,
    path: string,
    body: unknown,
    timeout: number,
    { signal, headers: callHeaders }: CallOptions = {},
  ): Promise<unknown> {
    const url = `${endpoint}/compute/v1/${path}`;
    const project = decodeURIComponent(path.split("/")[1] ?? "");
    await options.quota?.take(method, project, signal);
    const started = performance.now();
    let status = 0;
    let reason = "";
    try {
      for (let refreshed = false; ; refreshed = true) {
        const headers = new Headers(await (await authClient()).getRequestHeaders(url));
        for (const [k, v] of Object.entries({ ...options.headers?.(), ...callHeaders }))
          headers.set(k, v);
        if (body !== undefined) headers.set("content-type", "application/json");
        const deadline = linkedSignal(signal === undefined ? [] : [signal], timeout);
        let text: string;
        let retryAfter: string | string[] | undefined;
        try {
          // undici's request API, not fetch: the same client without the web-streams layer,
          // at a third of the CPU per call (see this lib's README).
          const res = await request(url, {
            method: httpMethod,
            headers,
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
            signal: deadline.signal,
          });
          status = res.statusCode;
          retryAfter = res.headers["retry-after"];
          text = await res.body.text();
        } catch (e) {
          if (signal?.aborted === true) throw signal.reason as Error;
          throw ComputeApiError.noAnswer(deadline.timedOut ? "timeout" : "networkError", e);
        } finally {
          deadline.release();
        }
        if (status >= 200 && status < 300)
          return text === "" ? undefined : (JSON.parse(text) as unknown);
        const error = ComputeApiError.fromResponse(
          status,
          text,
          (Array.isArray(retryAfter) ? retryAfter[0] : retryAfter) ?? null,
        );
        reason = error.reason;
        if (error.kind !== "refresh-credentials" || refreshed) throw error;
        // The token was refused: mark it expired (keeping whatever the client refreshes with) so
        // the next getRequestHeaders fetches a fresh one.
        const refresh = await authClient();
        const { access_token: _refused, ...keep } = refresh.credentials;
        refresh.setCredentials({ ...keep, expiry_date: 1 });
      }
    } catch (e) {
      if (e instanceof ComputeApiError) {
        reason = e.reason;
        if (e.reason === "rateLimitExceeded" || e.httpStatus === 429)
          await options.quota?.refused(method, project);
      }
      throw e;
    } finally {
      options.onCall?.({ method, status, reason, durationMs: performance.now() - started });
    }
  }

  const operation = (json: unknown) =>
    fromJson(OperationSchema, json as never, { ignoreUnknownFields: true });
  const p = encodeURIComponent;
  /** The path of one of the project's global resources. */
  const global = (project: string, rest: string) => `projects/${p(project)}/global/${rest}`;
  /** `globalOperations.get`, or `.wait`: a POST that Compute holds open for up to two minutes. */
  const readOperation = async (
    kind: "get" | "wait",
    project: string,
    name: string,
    callOptions: CallOptions,
  ) => {
    const wait = kind === "wait";
    const path = global(project, `operations/${p(name)}${wait ? "/wait" : ""}`);
    const timeout = wait ? waitTimeoutMs : timeoutMs;
    const verb = wait ? "POST" : "GET";
    return operation(
      await call(`globalOperations.${kind}`, verb, path, undefined, timeout, callOptions),
    );
  };

  /** A mutating call on one image (`images/NAME` + `verb`), under its requestId. */
  const mutateImage = async (
    method: string,
    httpMethod: string,
    project: string,
    image: string,
    verb: string,
    body: unknown,
    { requestId, ...callOptions }: MutationOptions,
  ) => {
    const path = `images/${p(image)}${verb}?${new URLSearchParams({ requestId }).toString()}`;
    return operation(
      await call(method, httpMethod, global(project, path), body, timeoutMs, callOptions),
    );
  };

  const client: ComputeClient = {
    async credentials() {
      await (await authClient()).getAccessToken();
    },
    async insertImage(project, image, { requestId, forceCreate, ...callOptions }) {
      const query = new URLSearchParams({ requestId });
      if (forceCreate === true) query.set("forceCreate", "true");
      // A JSON object is Compute's Image resource already (the job's image, written by the
      // gateway's toJson): it goes as it is, not through a message and back.
      const body = isMessage(image, ImageSchema) ? toJson(ImageSchema, image) : image;
      return operation(
        await call(
          "images.insert",
          "POST",
          global(project, `images?${query.toString()}`),
          body,
          timeoutMs,
          callOptions,
        ),
      );
    },
    getOperation: (project, name, callOptions = {}) =>
      readOperation("get", project, name, callOptions),
    waitOperation: (project, name, callOptions = {}) =>
      readOperation("wait", project, name, callOptions),
    async getImage(project, name, callOptions = {}) {
      return (await call(
        "images.get",
        "GET",
        global(project, `images/${p(name)}`),
        undefined,
        timeoutMs,
        callOptions,
      )) as ComputeImage;
    },
    followOperation: (project, name, followOptions) =>
      followOperation(client, project, name, followOptions),
    async getImageFromFamily(project, family, callOptions = {}) {
      return (await call(
        "images.getFromFamily",
        "GET",
        global(project, `images/family/${p(family)}`),
        undefined,
        timeoutMs,
        callOptions,
      )) as ComputeImage;
    },
    async listImages(project, query = {}, callOptions = {}) {
      const items: ComputeImage[] = [];
      let pageToken = "";
      do {
        const params = new URLSearchParams();
        if (query.filter !== undefined) params.set("filter", query.filter);
        if (query.orderBy !== undefined) params.set("orderBy", query.orderBy);
        if (pageToken !== "") params.set("pageToken", pageToken);
        const page = (await call(
          "images.list",
          "GET",
          global(project, `images?${params.toString()}`),
          undefined,
          timeoutMs,
          callOptions,
        )) as { items?: ComputeImage[]; nextPageToken?: string } | undefined;
        items.push(...(page?.items ?? []));
        pageToken = page?.nextPageToken ?? "";
      } while (pageToken !== "");
      return items;
    },
    deprecateImage: (project, image, status, options) =>
      mutateImage("images.deprecate", "POST", project, image, "/deprecate", status ?? {}, options),
    deleteImage: (project, image, options) =>
      mutateImage("images.delete", "DELETE", project, image, "", undefined, options),
    setImageLabels: (project, image, labels, labelFingerprint, options) =>
      mutateImage(
        "images.setLabels",
        "POST",
        project,
        image,
        "/setLabels",
        { labels, labelFingerprint },
        options,
      ),
    async getImageIamPolicy(project, image, callOptions = {}) {
      return (await call(
        "images.getIamPolicy",
        "GET",
        global(project, `images/${p(image)}/getIamPolicy?optionsRequestedPolicyVersion=3`),
        undefined,
        timeoutMs,
        callOptions,
      )) as IamPolicy;
    },
    async setImageIamPolicy(project, image, policy, callOptions = {}) {
      return (await call(
        "images.setIamPolicy",
        "POST",
        global(project, `images/${p(image)}/setIamPolicy`),
        { policy },
        timeoutMs,
        callOptions,
      )) as IamPolicy;
    },
  };
  return client;
}
