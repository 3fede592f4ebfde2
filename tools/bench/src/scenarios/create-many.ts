import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { CreateImageRequestSchema, OperationSchema, type Operation } from "@imagesvc/proto";
import { grpcFrame, unaryClient } from "../grpc-unary";
import { createRequest, PROJECT, SETTINGS } from "../settings";

export const CREATE_PATH = "/computeimages.v1.ImageService/CreateImage";

/**
 * Creates `count` operations through the gateway over gRPC, `concurrency` at a time; the i-th in
 * project `projectOf(i)` (default: the bench's one project).
 */
export async function createMany(
  gatewayUrl: string,
  count: number,
  prefix: string,
  projectOf?: (i: number) => string,
): Promise<Operation[]> {
  // Encoded up front, so the timed part is the calls.
  const frames = Array.from({ length: count }, (_, i) =>
    grpcFrame(
      toBinary(
        CreateImageRequestSchema,
        createRequest(`${prefix}-${String(i)}`, projectOf?.(i) ?? PROJECT),
      ),
    ),
  );
  const client = unaryClient(gatewayUrl);
  const ops: Operation[] = [];
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: SETTINGS.concurrency }, async () => {
        while (next < count) {
          const i = next++;
          const frame = frames[i];
          if (frame === undefined) break;
          ops[i] = fromBinary(OperationSchema, await client.call(CREATE_PATH, frame));
        }
      }),
    );
  } finally {
    client.close();
  }
  return ops;
}
