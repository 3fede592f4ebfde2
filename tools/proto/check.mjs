// The contract's CI gate: buf lint, buf format, buf breaking against main, and proof that the
// vendored protos and the generated TypeScript are exactly what the sources produce.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { generate } from "./generate.mjs";
import { env, genDir, root, vendorDir, vendored } from "./paths.mjs";

const buf = (...args) => execFileSync("buf", args, { env, stdio: "inherit" });
const failures = [];

buf("lint");
buf("format", "proto", "--diff", "--exit-code", "--path", "proto/computeimages");

const hasMain = (() => {
  try {
    execFileSync("git", ["rev-parse", "--verify", "--quiet", "main:buf.yaml"], {
      stdio: "ignore",
    });
    return true;
  } catch {
    return false;
  }
})();
if (hasMain) buf("breaking", "--against", ".git#branch=main");
else console.log("buf breaking: main has no buf workspace yet, nothing to compare against");

for (const [source, target] of vendored) {
  if (!readFileSync(source).equals(readFileSync(join(vendorDir, target)))) {
    failures.push(`third_party/proto/${target} differs from ${source}; run npm run proto:gen`);
  }
}

const listFiles = (dir) =>
  readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => statSync(join(dir, f)).isFile())
    .sort();

const scratch = mkdtempSync(join(tmpdir(), "proto-check-"));
try {
  generate(scratch);
  const fresh = join(scratch, relative(root, genDir));
  const want = listFiles(fresh);
  const have = listFiles(genDir);
  if (want.join("\n") !== have.join("\n")) {
    failures.push(`generated files differ: want [${want}] have [${have}]`);
  }
  for (const file of want.filter((f) => have.includes(f))) {
    if (!readFileSync(join(fresh, file)).equals(readFileSync(join(genDir, file)))) {
      failures.push(`libs/proto/src/gen/${file} is stale; run npm run proto:gen`);
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

if (failures.length > 0) {
  for (const failure of failures) console.error(`check:proto: ${failure}`);
  process.exit(1);
}
console.log("check:proto: lint, format, breaking and generated code are clean");
