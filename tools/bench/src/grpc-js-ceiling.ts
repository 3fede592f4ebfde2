// The gRPC ceiling of a mature gRPC server: `@grpc/grpc-js`'s own Server answering
// grpc.health.v1.Health/Check with SERVING and nothing else, in a process of its own. The bench
// puts h2load on it beside the gateway's own no-op and CreateImage. Prints `PORT <n>`.
import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { healthV1 } from "@imagesvc/proto";

const serving = Buffer.from(
  toBinary(
    healthV1.HealthCheckResponseSchema,
    create(healthV1.HealthCheckResponseSchema, {
      status: healthV1.HealthCheckResponse_ServingStatus.SERVING,
    }),
  ),
);
const identity = (b: Buffer) => b;
const server = new grpc.Server();
server.addService(
  {
    Check: {
      path: "/grpc.health.v1.Health/Check",
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
  },
  {
    Check: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => {
      done(null, serving);
    },
  },
);
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error !== null) throw error;
  process.stdout.write(`PORT ${String(port)}\n`);
});
process.on("SIGTERM", () => {
  server.forceShutdown();
  process.exit(0);
});
