// A child process that holds WatchOperation streams over raw HTTP/2 with gRPC framing, and
// records when each update arrives. It reads only each message's version (field 101) instead of
// decoding it whole, so the client stays cheap next to the server it measures; several of these
// share the load. (The e2e tests cover real gRPC clients; here the client must not be the limit.)
import { create, toBinary } from "@bufbuild/protobuf";
import { WatchOperationRequestSchema } from "@imagesvc/proto";
import { versionOf } from "./grpc-unary";
import { connect, constants, type ClientHttp2Session, type IncomingHttpHeaders } from "node:http2";

export interface WatchJob {
  readonly url: string;
  readonly project: string;
  readonly ops: readonly string[];
  /** The index of ops[0] in the parent's list. */
  readonly firstIndex: number;
  readonly watchersPerOp: number;
  /** HTTP/2 connections to spread the streams over. */
  readonly connections: number;
}

export type WatchMessage =
  | {
      readonly type: "open";
      readonly streams: number;
      readonly errors: number;
      readonly firstError?: string;
    }
  | {
      readonly type: "done";
      /** Flattened (op index, version, arrival ms since epoch) triples, snapshots excluded. */
      readonly records: number[];
      readonly errors: number;
      readonly cpuSeconds: number;
    };

const now = () => performance.timeOrigin + performance.now();

function send(message: WatchMessage, then?: () => void): void {
  process.send?.(message, undefined, {}, () => then?.());
}

process.once("message", (job: WatchJob) => {
  void watch(job);
});

/** One WatchOperation stream; calls `onMessage` with each message's version. */
function openStream(
  session: ClientHttp2Session,
  project: string,
  operation: string,
  onMessage: (version: number) => void,
): Promise<void> {
  const body = toBinary(
    WatchOperationRequestSchema,
    create(WatchOperationRequestSchema, { project, operation }),
  );
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  frame.set(body, 5);
  const stream = session.request({
    [constants.HTTP2_HEADER_METHOD]: "POST",
    [constants.HTTP2_HEADER_PATH]: "/computeimages.v1.ImageService/WatchOperation",
    "content-type": "application/grpc",
    te: "trailers",
  });
  stream.end(frame);
  let pending: Buffer = Buffer.alloc(0);
  stream.on("data", (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 5) {
      const length = pending.readUInt32BE(1);
      if (pending.length < 5 + length) break;
      onMessage(versionOf(pending.subarray(5, 5 + length)));
      pending = pending.subarray(5 + length);
    }
  });
  return new Promise((resolve, reject) => {
    stream.on("trailers", (trailers: IncomingHttpHeaders) => {
      const status = trailers["grpc-status"];
      if (status === "0") resolve();
      else reject(new Error(`grpc-status ${String(status)}: ${String(trailers["grpc-message"])}`));
    });
    stream.on("error", reject);
    stream.on("close", () => {
      reject(new Error("the stream closed without trailers"));
    });
  });
}

async function watch(job: WatchJob): Promise<void> {
  const sessions = Array.from({ length: job.connections }, () => {
    const session = connect(job.url);
    // Node's HTTP/2 client window is 64 KiB per connection by default: a few hundred streams'
    // first messages fill it, and the server then waits for WINDOW_UPDATEs. gRPC clients in
    // production open it wider; so does this one, if BENCH_CLIENT_WINDOW_MIB says so.
    const windowMiB = Number(process.env["BENCH_CLIENT_WINDOW_MIB"] ?? 0);
    if (windowMiB > 0)
      session.once("connect", () => {
        session.setLocalWindowSize(windowMiB * 2 ** 20);
      });
    return session;
  });
  const total = job.ops.length * job.watchersPerOp;
  const records: number[] = [];
  let opened = 0;
  let errors = 0;
  let firstError: string | undefined;
  const settled = () => {
    if (opened + errors === total)
      send({
        type: "open",
        streams: opened,
        errors,
        ...(firstError !== undefined && { firstError }),
      });
  };
  const streams: Promise<void>[] = [];
  job.ops.forEach((operation, i) => {
    for (let w = 0; w < job.watchersPerOp; w++) {
      const session = sessions[(i * job.watchersPerOp + w) % sessions.length];
      if (session === undefined) continue;
      let first = true;
      streams.push(
        openStream(session, job.project, operation, (version) => {
          if (first) {
            first = false;
            opened++;
            settled();
            return;
          }
          records.push(job.firstIndex + i, version, now());
        }).catch((e: unknown) => {
          firstError ??= String(e);
          errors++;
          if (first) settled();
        }),
      );
    }
  });
  await Promise.all(streams);
  for (const session of sessions) session.close();
  const cpu = process.cpuUsage();
  send({ type: "done", records, errors, cpuSeconds: (cpu.user + cpu.system) / 1e6 }, () => {
    process.disconnect();
  });
}
