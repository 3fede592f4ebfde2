import {
  Code,
  ConnectError,
  createConnectRouter,
  createContextValues,
  type ContextValues,
} from "@connectrpc/connect";
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
  type ConnectNodeAdapterOptions,
} from "@connectrpc/connect-node";
import {
  deadlineInterceptor,
  deadlineOf,
  rememberDeadline,
  untilContextDeadline,
  untilDeadline,
} from "./deadline";
import { encodeOnceInterceptor } from "./encode-once";
import type { NodeHandler } from "./node-handler";

/** connect-node's own options: routes, interceptors, gate, limits, fallback. */
export type ConnectHandlerOptions = ConnectNodeAdapterOptions;

/**
 * connect-node's `connectNodeAdapter` (Connect, gRPC-Web, gRPC with JSON, client and bidi
 * streams, HTTP/1.1), with the call's deadline enforced on connect-node as on the gRPC path.
 * connect-node 2.3.0 starts the deadline's timer but does not let it interrupt the wait for the
 * request body (it iterates the Node request as it comes), nor the request gate, and it sends an
 * OK that the implementation returns after the deadline. Here:
 *
 * - the request gate and every read of the body end with DEADLINE_EXCEEDED at the deadline, so a
 *   client that sends its headers with a short timeout and never its body gets its answer then;
 * - the deadline interceptor (deadline.ts) comes inside `options.interceptors`: no OK after the
 *   deadline;
 * - a server stream's update is encoded once for every stream that sends it, as on the gRPC path
 *   (encode-once.ts);
 * - over HTTP/1.1, an answer given before the body came says `Connection: close`, since
 *   connect-node would otherwise wait for the rest of the body (to keep the connection) before
 *   writing anything.
 *
 * Otherwise it is the adapter as connect-node writes it, from connect-node's public pieces
 * (`universalRequestFromNodeRequest`, `universalResponseToNodeResponse`): same defaults (gzip
 * and brotli), same path matching, same logging of a failed handler. The version pin
 * (connect-pin.spec.ts) says to compare it with `connectNodeAdapter` on every upgrade.
 */
export function createConnectHandler(options: ConnectHandlerOptions): NodeHandler {
  // encode-once.ts hands connect stand-ins whose fields are all unknown fields.
  if (options.binaryOptions?.writeUnknownFields === false)
    throw new RangeError(
      "binaryOptions.writeUnknownFields must stay true: watch streams rely on it",
    );
  const gate = options.requestGate;
  const router = createConnectRouter({
    ...options,
    acceptCompression: options.acceptCompression ?? [compressionGzip, compressionBrotli],
    interceptors: [encodeOnceInterceptor, ...(options.interceptors ?? []), deadlineInterceptor],
    // The one place connect shows the HandlerContext before the body is read.
    requestGate: (ctx) => {
      rememberDeadline(ctx);
      return gate === undefined ? undefined : untilContextDeadline(ctx, gate(ctx));
    },
  });
  options.routes(router);
  const prefix = options.requestPathPrefix ?? "";
  const paths = new Map(router.handlers.map((h) => [prefix + h.requestPath, h]));
  const fallback = options.fallback ?? notFound;
  return (req, res) => {
    // Strip the query parameter when matching paths.
    const handler = paths.get(req.url?.split("?", 2)[0] ?? "");
    if (handler === undefined) {
      fallback(req, res);
      return;
    }
    const values = options.contextValues?.(req) ?? createContextValues();
    const universal = universalRequestFromNodeRequest(req, res, undefined, values);
    const body = new BodyUntilDeadline(universal.body as AsyncIterable<Uint8Array>, values);
    const http1 = !("stream" in req);
    handler({ ...universal, body })
      .then((answer) => {
        if (http1 && body.abandoned) {
          const header = new Headers(answer.header);
          header.set("connection", "close");
          return universalResponseToNodeResponse({ ...answer, header }, res);
        }
        return universalResponseToNodeResponse(answer, res);
      })
      .catch((reason: unknown) => {
        if (ConnectError.from(reason).code === Code.Aborted) return;
        console.error(
          `handler for rpc ${handler.method.name} of ${handler.service.typeName} failed`,
          reason,
        );
      });
  };
}

/**
 * The request body, each read cut short by the call's deadline; `abandoned` once one was. The
 * deadline is looked up when the body is first read: the gate records it (rememberDeadline),
 * and the gate runs before the body is read. A call without a deadline reads the body itself.
 * A class, not an object literal: it is made for every call.
 */
class BodyUntilDeadline implements AsyncIterable<Uint8Array> {
  abandoned = false;
  constructor(
    private readonly body: AsyncIterable<Uint8Array>,
    private readonly values: ContextValues,
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    const it = this.body[Symbol.asyncIterator]();
    if (deadlineOf(this.values) === undefined) return it;
    return {
      next: () =>
        untilDeadline(this.values, it.next()).catch((e: unknown) => {
          this.abandoned = true;
          throw e;
        }),
      return: (value?: unknown) =>
        it.return === undefined
          ? Promise.resolve({ done: true as const, value: undefined })
          : it.return(value),
    };
  }
}

/** connect-node's default fallback: 404 with no body. */
const notFound: NonNullable<ConnectHandlerOptions["fallback"]> = (_req, res) => {
  res.writeHead(404);
  res.end();
};
