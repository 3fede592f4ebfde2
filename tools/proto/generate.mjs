// Regenerates libs/proto/src/gen from proto/: copies the vendored Google protos from
// google-proto-files, then runs `buf generate`. Pass an output directory to generate elsewhere
// (the drift check does), leaving the committed tree alone.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { env, protoDir, vendorSource, vendored } from "./paths.mjs";

export function vendor(targetDir = protoDir) {
  for (const file of vendored) {
    mkdirSync(dirname(join(targetDir, file)), { recursive: true });
    copyFileSync(join(vendorSource, file), join(targetDir, file));
  }
}

export function generate(outputBase) {
  const args = ["generate"];
  if (outputBase) args.push("--output", outputBase);
  execFileSync("buf", args, { env, stdio: "inherit" });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  vendor();
  generate(process.argv[2]);
}
