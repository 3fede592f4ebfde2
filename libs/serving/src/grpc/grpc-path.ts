import { constants, type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { toBinary } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createHandlerContext,
  type HandlerContext,
  type Interceptor,
  type ServiceImplSpec,
} from "@connectrpc/connect";
// Private entry point of connect, outside its semver: @connectrpc/* is pinned exactly, and
// src/connect-pin.spec.ts says what to re-check before moving the pin (README, "Dependencies").
import { parseTimeout } from "@connectrpc/connect/protocol-grpc";
import { deadlineInterceptor, rememberDeadline, untilDeadline } from "../deadline";
import { decodeMessage } from "./codec";
import { GrpcStream } from "./grpc-stream";
import { invokeStreaming, invokeUnary, type Served } from "./invoke";

/**
 * gRPC (binary) on HTTP/2 streams directly, for the unary and server-streaming methods.
 *
 * connect-node serves every protocol through a pipeline of async generators (six per streamed
 * message) and builds a DOMException at the end of every call; at 10,000 watch streams that is
 * most of the gateway's CPU and memory (docs/performance.md). gRPC clients are the internal
 * callers and the watchers, so their path is this one: each call is a handful of stream events
 * and one await per message. What it keeps from connect, by using connect's own pieces: the
 * HandlerContext (deadline, signal, headers, context values), the interceptors (metrics, the
 * error edge) and unary invocation, `grpc-timeout` parsing, and errors in trailers with
 * `google.rpc.Status` details. gzip both ways, with connect's threshold for responses. What stays
 * on connect-node: Connect, gRPC-Web, gRPC with JSON, client and bidi streaming (reflection), and
 * any path this does not know, which the taker declines so connect answers it as before.
 */
export interface GrpcPathOptions {
  /** The services whose unary and server-streaming methods this path serves. */
  readonly services: readonly ServiceImplSpec[];
  /**
   * Outermost first, as connect applies them; the deadline interceptor (deadline.ts) is added
   * inside them, as connect-handler.ts adds it on connect-node.
   */
  readonly interceptors: readonly Interceptor[];
  /**
   * Runs before the body is read, as connect's `requestGate`; it too is bounded by the call's
   * deadline. Default: none.
   */
  readonly requestGate?: (ctx: HandlerContext) => Promise<void>;
  /** The largest request message accepted, in bytes, compressed or not. */
  readonly readMaxBytes: number;
}

/** Takes a new HTTP/2 stream and returns true, or returns false and leaves it to connect-node. */
export type StreamTaker = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => boolean;

/** Why a call's signal aborts once it is answered. */
const OVER = new ConnectError("the call is over", Code.Canceled);
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The taker for `listen`'s `takeStream`: binary gRPC calls of the services' methods it serves. */
export function createGrpcPath(options: GrpcPathOptions): StreamTaker {
  const routes = new Map<string, Served>();
  for (const { service, methods } of options.services)
    for (const spec of Object.values(methods))
      if (spec.kind === "unary" || spec.kind === "server_streaming")
        routes.set(`/${service.typeName}/${spec.method.name}`, spec);
  const interceptors = [...options.interceptors, deadlineInterceptor];
  return (stream, headers) => {
    const type = headers["content-type"];
    if (type !== "application/grpc" && type !== "application/grpc+proto") return false;
    if (headers[":method"] !== "POST") return false;
    const spec = routes.get(headers[":path"] ?? "");
    if (spec === undefined) return false;
    serve(spec, stream, headers, options, interceptors).catch(() => {
      // serve() answers every error with a status; this is the last resort if that failed.
      if (!stream.destroyed) stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    });
    return true;
  };
}

async function serve(
  spec: Served,
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  options: GrpcPathOptions,
  interceptors: Interceptor[],
): Promise<void> {
  const timeout = parseTimeout(single(headers["grpc-timeout"]) ?? null, Number.MAX_SAFE_INTEGER);
  const context = createHandlerContext({
    service: spec.method.parent,
    method: spec.method,
    protocolName: "grpc",
    requestMethod: "POST",
    url: `http://${single(headers[":authority"]) ?? "localhost"}${headers[":path"] ?? ""}`,
    // A deadline past what a timer can hold (about 24 days; gRPC allows 99,999,999 hours) is no
    // deadline: given to a timer, it would overflow and fire at once.
    ...(timeout.timeoutMs !== undefined &&
      timeout.timeoutMs <= MAX_TIMER_MS && { timeoutMs: timeout.timeoutMs }),
    requestHeader: requestHeaderOf(headers),
  });
  rememberDeadline(context);
  const accepted = single(headers["grpc-accept-encoding"]) ?? "";
  const call = new GrpcStream(
    stream,
    context,
    accepted.split(",").some((e) => e.trim() === "gzip"),
  );
  try {
    if (timeout.error !== undefined) throw timeout.error;
    const encoding = single(headers["grpc-encoding"]) ?? "identity";
    if (encoding !== "identity" && encoding !== "gzip")
      throw new ConnectError(
        `grpc-encoding ${encoding} is not supported; send identity or gzip`,
        Code.Unimplemented,
      );
    // The gate, the body and the call are all bounded by the deadline (the context's signal).
    if (options.requestGate !== undefined)
      await untilDeadline(context.values, options.requestGate(context));
    const input = await decodeMessage(spec.method.input, await call.readOne(options.readMaxBytes), {
      gzip: encoding === "gzip",
      maxBytes: options.readMaxBytes,
    });
    if (spec.kind === "unary") {
      const output = await invokeUnary(spec, context, input, interceptors);
      await call.send(toBinary(spec.method.output, output));
    } else {
      await call.sendAll(
        spec.method.output,
        await invokeStreaming(spec, context, input, interceptors),
      );
    }
    call.finish();
  } catch (e) {
    call.finish(
      e instanceof ConnectError
        ? e
        : new ConnectError("internal error", Code.Internal, undefined, undefined, e),
    );
  } finally {
    context.abort(OVER);
  }
}

function requestHeaderOf(headers: IncomingHttpHeaders): [string, string][] {
  const pairs: [string, string][] = [];
  for (const [key, value] of Object.entries(headers)) {
    if (key.startsWith(":") || value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) pairs.push([key, v]);
    else pairs.push([key, value]);
  }
  return pairs;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
