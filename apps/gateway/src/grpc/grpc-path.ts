import { promisify } from "node:util";
import {
  constants,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from "node:http2";
import { gunzip, gzip } from "node:zlib";
import { create, fromBinary, toBinary, type DescMessage } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createHandlerContext,
  type HandlerContext,
  type Interceptor,
  type MethodImplSpec,
  type ServiceImplSpec,
  type StreamRequest,
  type StreamResponse,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import { invokeUnaryImplementation } from "@connectrpc/connect/protocol";
import { parseTimeout, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { EnvelopeReader, type Envelope } from "./envelope-reader";

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
  readonly services: readonly ServiceImplSpec[];
  /** Outermost first, as connect applies them. */
  readonly interceptors: readonly Interceptor[];
  /** Runs before the body is read, as connect's `requestGate`. */
  readonly requestGate?: (ctx: HandlerContext) => Promise<void>;
  readonly readMaxBytes: number;
}

/** Takes a new HTTP/2 stream and returns true, or returns false and leaves it to connect-node. */
export type StreamTaker = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => boolean;

type Served = Extract<MethodImplSpec, { kind: "unary" | "server_streaming" }>;

/** Why a call's signal aborts when its client resets the stream, and when the call is over. */
const CANCELLED = new ConnectError("the client cancelled the call", Code.Canceled);
const OVER = new ConnectError("the call is over", Code.Canceled);
const gunzipAsync = promisify(gunzip);
const gzipAsync = promisify(gzip);
/** Messages smaller than this go uncompressed even to a client that accepts gzip, as in connect. */
const COMPRESS_MIN_BYTES = 1024;
const MAX_TIMER_MS = 2 ** 31 - 1;

export function createGrpcPath(options: GrpcPathOptions): StreamTaker {
  const routes = new Map<string, Served>();
  for (const { service, methods } of options.services)
    for (const spec of Object.values(methods))
      if (spec.kind === "unary" || spec.kind === "server_streaming")
        routes.set(`/${service.typeName}/${spec.method.name}`, spec);
  const interceptors = [...options.interceptors];
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
  const accepted = single(headers["grpc-accept-encoding"]) ?? "";
  const call = new Call(
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
    await options.requestGate?.(context);
    const input = await decode(spec.method.input, await call.readOne(options.readMaxBytes), {
      gzip: encoding === "gzip",
      maxBytes: options.readMaxBytes,
    });
    if (spec.kind === "unary") {
      const output = await invokeUnaryImplementation(spec, context, input, interceptors);
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

/** One call's HTTP/2 stream: the request body in, the messages and the status out. */
class Call {
  private responded = false;
  /** The stream closed under us: the client reset it, or the connection went. */
  private gone = false;
  private drained: (() => void) | undefined;

  constructor(
    private readonly stream: ServerHttp2Stream,
    private readonly context: ReturnType<typeof createHandlerContext>,
    /** The client accepts gzip: messages of 1 KiB or more go compressed. */
    private readonly gzipOut: boolean,
  ) {
    stream.once("close", () => {
      this.gone = true;
      context.abort(CANCELLED);
      this.drained?.();
    });
    // An error is followed by "close"; without a listener it would be thrown.
    stream.on("error", () => undefined);
  }

  /** The request's one message, once the client has ended its side. */
  readOne(maxBytes: number): Promise<Envelope> {
    const reader = new EnvelopeReader(maxBytes);
    const messages: Envelope[] = [];
    return new Promise((resolve, reject) => {
      const fail = (e: ConnectError) => {
        this.stream.off("data", onData);
        this.stream.resume(); // discard the rest; the answer is already decided
        reject(e);
      };
      const onData = (chunk: Buffer) => {
        try {
          for (const message of reader.push(chunk)) messages.push(message);
        } catch (e) {
          fail(ConnectError.from(e));
          return;
        }
        if (messages.length > 1)
          fail(
            new ConnectError(
              `protocol error: received extra input message for ${this.context.method.methodKind === "unary" ? "unary" : "server-streaming"} method`,
              Code.Unimplemented,
            ),
          );
      };
      const onEnd = () => {
        const [first] = messages;
        if (!reader.atBoundary)
          reject(new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument));
        else if (first === undefined)
          reject(new ConnectError("protocol error: missing input message", Code.Unimplemented));
        else resolve(first);
      };
      // An empty body may have ended (and said so) while the gate ran, before anyone listened.
      if (this.stream.readableEnded) {
        onEnd();
        return;
      }
      this.stream.on("data", onData);
      this.stream.once("end", onEnd);
      this.stream.once("close", () => {
        reject(CANCELLED);
      });
    });
  }

  /**
   * Writes one message: false when the stream's buffer is full (wait for `whenWritable`). A
   * promise only when the message is compressed, so a small message costs no extra await.
   */
  send(message: Uint8Array): boolean | Promise<boolean> {
    if (this.gzipOut && message.length >= COMPRESS_MIN_BYTES)
      return gzipAsync(message).then((zipped) => this.write(zipped, 1));
    return this.write(message, 0);
  }

  private write(bytes: Uint8Array, flags: number): boolean {
    if (this.gone || this.stream.destroyed) return true;
    this.respond();
    const frame = Buffer.allocUnsafe(5 + bytes.length);
    frame[0] = flags;
    frame.writeUInt32BE(bytes.length, 1);
    frame.set(bytes, 5);
    return this.stream.write(frame);
  }

  /** Every message of a server stream, at the pace the client reads them. */
  async sendAll(schema: DescMessage, messages: AsyncIterable<unknown>): Promise<void> {
    const it = messages[Symbol.asyncIterator]();
    let ended = false;
    try {
      for (;;) {
        const next = await it.next();
        if (next.done === true) {
          ended = true;
          return;
        }
        // The client went while the next message was being made.
        if (this.gone) break;
        const message = create(schema, next.value as never);
        let written = this.send(toBinary(schema, message));
        if (typeof written !== "boolean") written = await written;
        if (!written) await this.whenWritable();
      }
    } catch (e) {
      ended = true;
      throw e;
    } finally {
      // Stopped before the messages ran out (the client went): let the producer clean up.
      if (!ended) await it.return?.();
    }
  }

  /** The status, in trailers; nothing if the stream is already gone. */
  finish(error?: ConnectError): void {
    if (this.gone || this.stream.closed || this.stream.destroyed) return;
    this.respond();
    const trailer: OutgoingHttpHeaders = {};
    setTrailerStatus(this.context.responseTrailer, error).forEach((value, key) => {
      trailer[key] = value;
    });
    this.stream.once("wantTrailers", () => {
      this.stream.sendTrailers(trailer);
    });
    this.stream.end();
  }

  private respond(): void {
    if (this.responded) return;
    this.responded = true;
    const header: OutgoingHttpHeaders = {
      ":status": 200,
      "content-type": "application/grpc+proto",
      "grpc-accept-encoding": "gzip",
      ...(this.gzipOut && { "grpc-encoding": "gzip" }),
    };
    this.context.responseHeader.forEach((value, key) => {
      header[key] = value;
    });
    this.stream.respond(header, { waitForTrailers: true });
  }

  private whenWritable(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.stream.off("drain", done);
        this.drained = undefined;
        resolve();
      };
      this.drained = done;
      this.stream.once("drain", done);
    });
  }
}

/** Runs a server-streaming method through the interceptors, as connect does. */
async function invokeStreaming(
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

async function decode<I extends DescMessage>(
  schema: I,
  envelope: Envelope,
  how: { readonly gzip: boolean; readonly maxBytes: number },
) {
  let data = envelope.data;
  if ((envelope.flags & 0b1) !== 0) {
    if (!how.gzip)
      throw new ConnectError(
        "protocol error: received a compressed message without grpc-encoding",
        Code.Internal,
      );
    try {
      data = await gunzipAsync(data, { maxOutputLength: how.maxBytes });
    } catch (e) {
      throw e instanceof RangeError
        ? new ConnectError(
            `the decompressed message is larger than configured readMaxBytes ${how.maxBytes}`,
            Code.ResourceExhausted,
          )
        : new ConnectError("the message does not decompress as gzip", Code.InvalidArgument);
    }
  }
  try {
    return fromBinary(schema, data);
  } catch (e) {
    throw new ConnectError(
      `the request is not a valid ${schema.typeName}: ${e instanceof Error ? e.message : String(e)}`,
      Code.InvalidArgument,
    );
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

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
