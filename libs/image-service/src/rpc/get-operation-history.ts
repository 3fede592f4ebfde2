import { create, fromJson, type JsonValue } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { abortable } from "@imagesvc/operations";
import {
  CreateImageRequestSchema,
  ImageSchema,
  Operation_Status,
  OperationHistorySchema,
  type CreateImageRequest,
  type GetOperationHistoryRequest,
  type OperationHistory,
} from "@imagesvc/proto";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  parseNotification,
  releaseRequestView,
  type Notification,
  type ReleaseJob,
} from "@imagesvc/queue";
import { checkRead } from "./access";
import type { ImageServiceDeps } from "./deps";
import { notFound } from "./errors";
import { familyPolicyOf } from "./releases";

/**
 * GetOperationHistory: the versions the record keeps, oldest first, and the request it ran from,
 * or NOT_FOUND (also for a project the caller may not read), as GetOperation.
 */
export function getOperationHistory(deps: ImageServiceDeps) {
  return async (
    req: GetOperationHistoryRequest,
    ctx: HandlerContext,
  ): Promise<OperationHistory> => {
    checkRead(deps, req.project, req.operation, ctx);
    const recorded = await abortable(deps.store.history(req.project, req.operation), ctx.signal);
    if (recorded === undefined) throw notFound(req.project, req.operation);
    const release = releaseRequestView(recorded.request);
    if (release !== undefined)
      return create(OperationHistorySchema, {
        versions: recorded.versions,
        ...releaseView(release, recorded.notification),
      });
    const request = requestView(req.project, recorded.request, recorded.notification);
    return create(OperationHistorySchema, {
      versions: recorded.versions,
      ...(request !== undefined && { request }),
    });
  };
}

const STATUS_OF = { RUNNING: Operation_Status.RUNNING, DONE: Operation_Status.DONE } as const;

/**
 * The request as accepted, from the stored request's JSON: its image (keys in clear are never
 * stored, so none is here), request id and force flag, and its webhook (its query left out).
 * Read leniently: a view of what was asked, not what a worker runs, so a field it does not know
 * is left out and an unreadable one leaves the request unset rather than failing the call.
 */
function requestView(
  project: string,
  json: string,
  notificationJson: string,
): CreateImageRequest | undefined {
  if (json === "") return undefined;
  try {
    const stored = JSON.parse(json) as {
      image?: JsonValue;
      requestId?: unknown;
      forceCreate?: unknown;
    };
    const notification = parseNotification(notificationJson);
    return create(CreateImageRequestSchema, {
      project,
      image: fromJson(ImageSchema, stored.image ?? {}, { ignoreUnknownFields: true }),
      requestId: typeof stored.requestId === "string" ? stored.requestId : "",
      forceCreate: stored.forceCreate === true,
      ...(notification !== undefined && {
        notification: {
          url: withoutQuery(notification.url),
          on: notification.on.map((s) => STATUS_OF[s]),
        },
      }),
    });
  } catch {
    return undefined;
  }
}

/** A release's request as accepted, in the history field of its kind; leniently, as above. */
function releaseView(job: ReleaseJob, notificationJson: string) {
  try {
    const r = job.release;
    const notification = viewOf(parseNotification(notificationJson));
    const common = { project: job.project, requestId: job.requestId, ...notification };
    switch (r.kind) {
      case "promote":
        return { promote: { ...common, image: r.image } };
      case "rollback":
        return {
          rollback: {
            ...common,
            family: r.family,
            toImage: r.toImage ?? "",
            obsolete: r.obsolete === true,
          },
        };
      case "deprecate": {
        const at = (t: string | undefined) =>
          t === undefined ? undefined : timestampFromMs(Date.parse(t));
        return {
          deprecate: {
            ...common,
            image: r.image,
            state: r.state,
            replacement: r.replacement,
            deprecateTime: at(r.times.deprecated),
            obsoleteTime: at(r.times.obsolete),
            deleteTime: at(r.times.deleted),
          },
        };
      }
      case "share":
        return { share: { ...common, image: r.image, members: [...r.members], role: r.role } };
      case "setPolicy":
        return {
          setPolicy: {
            project: job.project,
            requestId: job.requestId,
            family: r.family,
            ...(r.policy !== undefined && { policy: familyPolicyOf(r.policy) }),
          },
        };
      case "retain":
        return {};
    }
  } catch {
    return {};
  }
}

function viewOf(notification: Notification | undefined) {
  return notification === undefined
    ? {}
    : {
        notification: {
          url: withoutQuery(notification.url),
          on: notification.on.map((s) => STATUS_OF[s]),
        },
      };
}

/**
 * A webhook URL as the history shows it to every reader of the project: its query and fragment
 * (where hooks often carry a token) left out, marked `?…`.
 */
function withoutQuery(url: string): string {
  try {
    const parsed = new URL(url);
    const cut = parsed.search !== "" || parsed.hash !== "";
    return `${parsed.origin}${parsed.pathname}${cut ? "?…" : ""}`;
  } catch {
    return "";
  }
}
