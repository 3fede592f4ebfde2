// Regenerates libs/proto/src/gen from the buf workspace: copies the vendored protos from their npm
// packages into third_party/proto, then runs `buf generate`. Pass an output directory to generate elsewhere
// (the drift check does), leaving the committed tree alone.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { env, vendorDir, vendored } from "./paths.mjs";

export function vendor(targetDir = vendorDir) {
  for (const [source, target] of vendored) {
    mkdirSync(dirname(join(targetDir, target)), { recursive: true });
    copyFileSync(source, join(targetDir, target));
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
