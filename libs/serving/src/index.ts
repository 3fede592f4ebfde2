// The serving edge: one port for gRPC, Connect and gRPC-Web over HTTP/2 and HTTP/1.1, in
// cleartext or TLS; the gRPC path beside connect-node; the call's deadline on both.
export { listen, type ListenOptions, type Listening } from "./listen";
export type { NodeHandler } from "./node-handler";
export { createGrpcPath, type GrpcPathOptions, type StreamTaker } from "./grpc/grpc-path";
export { createConnectHandler, type ConnectHandlerOptions } from "./connect-handler";
