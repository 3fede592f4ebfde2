import { create, isMessage, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { BinaryReader, type WireType } from "@bufbuild/protobuf/wire";
import type { Interceptor } from "@connectrpc/connect";
import { messageBytes } from "./grpc/codec";

/**
 * connect-node serializes each message of a server stream for each stream that sends it, and
 * has no public hook for bytes made beforehand. One watched update goes to every watcher as one
 * message object, so for the binary codecs (Connect and gRPC-Web with protobuf) this interceptor
 * hands connect, per update, one stand-in made once: the same type, no field set, and the
 * update's encoded fields carried as unknown fields. protobuf-es writes unknown fields as the raw
 * bytes they are (`writeUnknownFields` is its default), so what connect writes for the stand-in
 * is byte for byte what it would have written for the update, at the cost of a copy.
 *
 * JSON codecs do not write unknown fields: their messages go as they are. The interceptor is the
 * outermost, so every other interceptor sees the real messages.
 */
export const encodeOnceInterceptor: Interceptor = (next) => async (req) => {
  const res = await next(req);
  if (!res.stream || !isBinary(req.header.get("content-type"))) return res;
  const schema = req.method.output;
  return {
    ...res,
    message: mapStream(res.message, (m) => (isMessage(m, schema) ? preEncoded(schema, m) : m)),
  };
};

const standIns = new WeakMap<object, MessageShape<DescMessage>>();

/** The stand-in for `message`: made once per message object, however many streams send it. */
export function preEncoded<D extends DescMessage>(
  schema: D,
  message: MessageShape<D>,
): MessageShape<D> {
  let standIn = standIns.get(message);
  if (standIn === undefined) {
    standIn = create(schema);
    standIn.$unknown = fieldsOf(messageBytes(schema, message));
    standIns.set(message, standIn);
  }
  return standIn as MessageShape<D>;
}

/** Top-level fields of an encoded message, each as protobuf-es keeps an unknown field. */
function fieldsOf(bytes: Uint8Array): { no: number; wireType: WireType; data: Uint8Array }[] {
  const reader = new BinaryReader(bytes);
  const fields = [];
  while (reader.pos < reader.len) {
    const [no, wireType] = reader.tag();
    fields.push({ no, wireType, data: reader.skip(wireType, no) });
  }
  return fields;
}

/** Binary protobuf: `application/connect+proto`, `application/grpc-web[+proto]`, gRPC. */
function isBinary(contentType: string | null): boolean {
  const type = contentType?.split(";", 1)[0]?.trim().toLowerCase() ?? "";
  return type.endsWith("+proto") || type === "application/grpc-web" || type === "application/grpc";
}

async function* mapStream<T, U>(source: AsyncIterable<T>, f: (t: T) => U): AsyncIterable<U> {
  for await (const item of source) yield f(item);
}
