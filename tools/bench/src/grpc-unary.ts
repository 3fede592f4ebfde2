// CreateImage over raw HTTP/2 with gRPC framing, for the end-to-end and overhead scenarios: each
// request needs its own body (a unique image name), which h2load cannot vary, and a full gRPC
// client would spend more CPU than the server it measures. The e2e tests use real clients.
import { connect, constants, type ClientHttp2Session, type IncomingHttpHeaders } from "node:http2";

/** gRPC's length-prefixed message framing. */
export function grpcFrame(message: Uint8Array): Uint8Array {
  const frame = new Uint8Array(5 + message.length);
  new DataView(frame.buffer).setUint32(1, message.length);
  frame.set(message, 5);
  return frame;
}

/** The `version` (field 101, a varint) of an encoded Operation; 0 if absent. */
export function versionOf(message: Uint8Array): number {
  let i = 0;
  const varint = () => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = message[i++] ?? 0;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  };
  while (i < message.length) {
    const tag = varint();
    const wire = tag & 7;
    if (wire === 0) {
      const value = varint();
      if (tag >>> 3 === 101) return value;
    } else if (wire === 1) i += 8;
    else if (wire === 2) {
      const length = varint();
      i += length;
    } else if (wire === 5) i += 4;
    else throw new Error(`unexpected wire type ${String(wire)}`);
  }
  return 0;
}

export interface UnaryClient {
  /** Sends one framed request; resolves with the response message, rejects on a non-OK status. */
  call(path: string, frame: Uint8Array): Promise<Buffer>;
  close(): void;
}

export function unaryClient(url: string, connections = 4): UnaryClient {
  const sessions: ClientHttp2Session[] = Array.from({ length: connections }, () => connect(url));
  let turn = 0;
  return {
    call(path, frame) {
      const session = sessions[turn++ % sessions.length];
      if (session === undefined) throw new Error("no session");
      const stream = session.request({
        [constants.HTTP2_HEADER_METHOD]: "POST",
        [constants.HTTP2_HEADER_PATH]: path,
        "content-type": "application/grpc",
        te: "trailers",
      });
      stream.end(frame);
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      return new Promise((resolve, reject) => {
        stream.on("trailers", (trailers: IncomingHttpHeaders) => {
          const status = trailers["grpc-status"];
          if (status !== "0") {
            reject(new Error(`grpc-status ${String(status)}: ${String(trailers["grpc-message"])}`));
            return;
          }
          resolve(Buffer.concat(chunks).subarray(5));
        });
        stream.on("error", reject);
      });
    },
    close() {
      for (const session of sessions) session.close();
    },
  };
}
