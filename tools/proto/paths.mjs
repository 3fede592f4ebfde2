// Paths shared by the proto scripts. Run them from the repository root (npm scripts do).
import { join } from "node:path";

export const root = process.cwd();
export const bin = join(root, "node_modules", ".bin");
const nm = join(root, "node_modules");
/**
 * Protos we vendor verbatim from npm packages (the Buf Schema Registry is out of reach), as
 * [path in the package, path under third_party/proto/].
 */
export const vendored = [
  [join(nm, "google-proto-files", "google/rpc/status.proto"), "google/rpc/status.proto"],
  [
    join(nm, "google-proto-files", "google/rpc/error_details.proto"),
    "google/rpc/error_details.proto",
  ],
  [join(nm, "grpc-health-check", "proto/health/v1/health.proto"), "grpc/health/v1/health.proto"],
  [
    join(nm, "@grpc/reflection", "build/proto/grpc/reflection/v1/reflection.proto"),
    "grpc/reflection/v1/reflection.proto",
  ],
  [
    join(nm, "@grpc/reflection", "build/proto/grpc/reflection/v1alpha/reflection.proto"),
    "grpc/reflection/v1alpha/reflection.proto",
  ],
];
export const vendorDir = join(root, "third_party", "proto");
export const genDir = join(root, "libs", "proto", "src", "gen");

/** Environment in which buf finds protoc-gen-es from node_modules/.bin. */
export const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` };
