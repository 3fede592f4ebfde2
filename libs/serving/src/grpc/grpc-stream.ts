import { constants, type OutgoingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { create, type DescMessage } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
// Private entry point of connect, outside its semver: @connectrpc/* is pinned exactly, and
// src/connect-pin.spec.ts says what to re-check before moving the pin (README, "Dependencies").
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { encodeMessage, messageBytes } from "./codec";
import { EnvelopeReader, type Envelope } from "./envelope-reader";

/** Why a call's signal aborts when its client resets the stream, or the connection goes. */
export const CANCELLED = new ConnectError("the client cancelled the call", Code.Canceled);

/**
 * One gRPC call's HTTP/2 stream: the request body in, the messages and the status out. Events
 * and writes on the stream itself, no Node streams piped through generators: a watch stream
 * costs one write per message.
 */
export class GrpcStream {
  private responded = false;
  /** The stream closed under us: the client reset it, or the connection went. */
  private gone = false;
  private drained: (() => void) | undefined;

  constructor(
    private readonly stream: ServerHttp2Stream,
    private readonly context: HandlerContext & { abort(reason?: unknown): void },
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

  /**
   * The request's one message, once the client has ended its side. Rejects when the call's
   * signal aborts first: at its deadline (DEADLINE_EXCEEDED), so a client that sends headers
   * and never a body is answered when its deadline passes rather than held until it goes.
   */
  readOne(maxBytes: number): Promise<Envelope> {
    const reader = new EnvelopeReader(maxBytes);
    const messages: Envelope[] = [];
    const signal = this.context.signal;
    // Only the deadline needs the signal: when the client resets the stream or its connection
    // goes, Node ends the stream's readable side, so "end" comes (grpc-path.spec.ts shows it).
    // A call without a deadline adds no listener to its signal: an EventTarget listener costs
    // a cheap call more than the rest of its wait.
    const watchSignal = this.context.timeoutMs() !== undefined;
    return new Promise((resolve, reject) => {
      const stop = () => {
        this.stream.off("data", onData);
        this.stream.off("end", onEnd);
        if (watchSignal) signal.removeEventListener("abort", onAbort);
      };
      const fail = (e: ConnectError) => {
        stop();
        this.stream.resume(); // discard the rest; the answer is already decided
        reject(e);
      };
      const onAbort = () => {
        fail(ConnectError.from(signal.reason));
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
        stop();
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
      if (signal.aborted) {
        onAbort();
        return;
      }
      this.stream.on("data", onData);
      this.stream.once("end", onEnd);
      if (watchSignal) signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  /**
   * Writes one message: false when the stream's buffer is full (wait for `whenWritable`). A
   * promise only when the message is compressed, so a small message costs no extra await.
   */
  send(message: Uint8Array): boolean | Promise<boolean> {
    if (this.gone || this.stream.destroyed) return true;
    const framed = encodeMessage(message, this.gzipOut);
    return framed instanceof Promise ? framed.then((f) => this.write(f)) : this.write(framed);
  }

  private write(framed: Buffer): boolean {
    if (this.gone || this.stream.destroyed) return true;
    this.respond();
    return this.stream.write(framed);
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
        let written = this.send(messageBytes(schema, message));
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

  /**
   * The status, in trailers; nothing if the stream is already gone. A client still sending (an
   * answer before the whole request, e.g. at the deadline) is then told to stop with
   * RST_STREAM NO_ERROR, as connect-node does, so that its stream does not stay open.
   */
  finish(error?: ConnectError): void {
    if (this.gone || this.stream.closed || this.stream.destroyed) return;
    this.respond();
    const trailer: OutgoingHttpHeaders = {};
    setTrailerStatus(this.context.responseTrailer, error).forEach((value, key) => {
      trailer[key] = value;
    });
    this.stream.once("wantTrailers", () => {
      this.stream.sendTrailers(trailer);
      // Node sends trailers on setImmediate; resetting before that would drop them.
      setImmediate(() => {
        if (!this.stream.destroyed && this.stream.state.remoteClose === 0)
          this.stream.close(constants.NGHTTP2_NO_ERROR);
      });
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
