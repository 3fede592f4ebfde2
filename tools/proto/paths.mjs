// Paths shared by the proto scripts. Run them from the repository root (npm scripts do).
import { join } from "node:path";

export const root = process.cwd();
export const bin = join(root, "node_modules", ".bin");
/** The Google protos we vendor, copied verbatim from the npm package google-proto-files. */
export const vendored = ["google/rpc/status.proto", "google/rpc/error_details.proto"];
export const vendorSource = join(root, "node_modules", "google-proto-files");
export const protoDir = join(root, "proto");
export const genDir = join(root, "libs", "proto", "src", "gen");

/** Environment in which buf finds protoc-gen-es from node_modules/.bin. */
export const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` };
