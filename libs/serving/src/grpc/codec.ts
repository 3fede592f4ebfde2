import { promisify } from "node:util";
import { gunzip, gzip } from "node:zlib";
import { fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Envelope } from "./envelope-reader";

/**
 * The gRPC path's codec: a request message from its envelope (gunzipped when flagged, within
 * the read limit, then parsed), and a response message into its envelope (gzipped from 1 KiB up
 * for a client that accepts gzip). Reading envelopes out of a body is envelope-reader.ts. The
 * errors are the codes connect-node answers for the same faults, so both paths agree.
 */

const gunzipAsync = promisify(gunzip);
const gzipAsync = promisify(gzip);
/** Messages smaller than this go uncompressed even to a client that accepts gzip, as in connect. */
const COMPRESS_MIN_BYTES = 1024;
/** Bit 0 of an envelope's flags byte: the message is compressed. */
const COMPRESSED = 0b1;

/** The request message of `envelope`, parsed as `schema`. */
export async function decodeMessage<I extends DescMessage>(
  schema: I,
  envelope: Envelope,
  how: {
    /** The request said `grpc-encoding: gzip`. */
    readonly gzip: boolean;
    /** The largest message accepted, decompressed. */
    readonly maxBytes: number;
  },
): Promise<MessageShape<I>> {
  let data = envelope.data;
  if ((envelope.flags & COMPRESSED) !== 0) {
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

/**
 * One response message, framed. A promise only when the message is compressed, so that a small
 * message (most of a watch stream's) costs no extra await.
 */
export function encodeMessage(message: Uint8Array, gzipOut: boolean): Buffer | Promise<Buffer> {
  if (gzipOut && message.length >= COMPRESS_MIN_BYTES)
    return gzipAsync(message).then((zipped) => frame(zipped, COMPRESSED));
  return frame(message, 0);
}

/** The 5-byte envelope header (flags, big-endian length) and the bytes, in one buffer. */
export function frame(bytes: Uint8Array, flags: number): Buffer {
  const out = Buffer.allocUnsafe(5 + bytes.length);
  out[0] = flags;
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

/**
 * Each response message's bytes, by message object: one update is fanned out as one object to
 * every stream watching it, so it is encoded once for all of them, not once per watcher. Held
 * weakly, so an update's bytes go with the update. A message must not change once sent (none of
 * this service's do: the bus hands out fresh ones).
 */
const encoded = new WeakMap<object, Uint8Array>();

/** The binary form of a response message, encoded once however many streams send it. */
export function messageBytes(schema: DescMessage, message: MessageShape<DescMessage>): Uint8Array {
  let bytes = encoded.get(message);
  if (bytes === undefined) {
    bytes = toBinary(schema, message);
    encoded.set(message, bytes);
  }
  return bytes;
}
