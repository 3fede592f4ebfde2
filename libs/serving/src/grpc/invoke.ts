import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import {
  type HandlerContext,
  type Interceptor,
  type MethodImplSpec,
  type StreamRequest,
  type StreamResponse,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
// Private entry point of connect, outside its semver: @connectrpc/* is pinned exactly, and
// src/connect-pin.spec.ts says what to re-check before moving the pin (README, "Dependencies").
import { invokeUnaryImplementation } from "@connectrpc/connect/protocol";

/** The methods the gRPC path serves itself; client and bidi streaming stay on connect-node. */
export type Served = Extract<MethodImplSpec, { kind: "unary" | "server_streaming" }>;

/**
 * Runs a unary method through the interceptors: connect's own invocation, so that the request
 * the interceptors see, the context the implementation gets and the headers copied back are
 * exactly connect-node's.
 */
export function invokeUnary(
  spec: Extract<Served, { kind: "unary" }>,
  context: HandlerContext,
  input: MessageShape<DescMessage>,
  interceptors: Interceptor[],
): Promise<MessageShape<DescMessage>> {
  return invokeUnaryImplementation(spec, context, input, interceptors);
}

/**
 * Runs a server-streaming method through the interceptors, as connect does, but without its
 * generator pipeline: the request's one message is a plain iterable, and the answer's messages
 * are handed back as the implementation (and the interceptors) make them.
 */
export async function invokeStreaming(
  spec: Extract<Served, { kind: "server_streaming" }>,
  context: HandlerContext,
  input: unknown,
  interceptors: readonly Interceptor[],
): Promise<AsyncIterable<unknown>> {
  const service = spec.method.parent;
  type Next = (req: UnaryRequest | StreamRequest) => Promise<UnaryResponse | StreamResponse>;
  let next: Next = (req) =>
    Promise.resolve({
      stream: true,
      service,
      method: spec.method,
      header: context.responseHeader,
      trailer: context.responseTrailer,
      message: spec.impl(input as never, {
        ...context,
        service: req.service,
        requestHeader: req.header,
        signal: req.signal,
        values: req.contextValues,
      }) as AsyncIterable<never>,
    });
  for (const interceptor of [...interceptors].reverse()) next = interceptor(next);
  const res = await next({
    stream: true,
    service,
    method: spec.method,
    requestMethod: "POST",
    url: context.url,
    signal: context.signal,
    header: context.requestHeader,
    contextValues: context.values,
    message: once(input),
  } as StreamRequest);
  copyInto(res.header, context.responseHeader);
  copyInto(res.trailer, context.responseTrailer);
  return res.stream ? res.message : once(res.message);
}

/**
 * One value as an async iterable. Not connect's `createAsyncIterable`: that is a down-levelled
 * async generator, made at once and held by the request for the whole life of a stream (about
 * half a KiB each, at 10,000 streams).
 */
function once<T>(value: T): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      let done = false;
      return {
        next: () => {
          if (done) return Promise.resolve({ done: true, value: undefined });
          done = true;
          return Promise.resolve({ done: false, value });
        },
      };
    },
  };
}

function copyInto(from: Headers, to: Headers): void {
  if (from === to) return;
  from.forEach((value, key) => {
    to.set(key, value);
  });
}
