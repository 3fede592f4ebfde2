// Builds an app into dist/<projectRoot>/main.js: one ESM bundle holding the app and our libs, with
// npm packages left as imports. Beside it goes a package.json naming exactly the packages the
// bundle imports, at the versions the bundle was built and tested against, and its lockfile, so
// `npm ci --omit=dev` in that folder gives a production tree with nothing else.
// Usage: node tools/build-app.mjs apps/<app>
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";

const projectRoot = process.argv[2];
if (!projectRoot?.startsWith("apps/"))
  throw new Error("usage: node tools/build-app.mjs apps/<app>");
const outdir = join("dist", projectRoot);
/** npm package → the version the bundle's imports resolve to. */
const packages = new Map();

/** The version of `pkg` that Node loads from `dir`: the nearest node_modules holding it. */
function installedVersion(pkg, dir) {
  for (let d = dir; ; d = dirname(d)) {
    const manifest = join(d, "node_modules", pkg, "package.json");
    if (existsSync(manifest)) return JSON.parse(readFileSync(manifest, "utf8")).version;
    if (dirname(d) === d) throw new Error(`${pkg} is imported from ${dir} but not installed`);
  }
}

/** Our own workspace libs are bundled; every other bare import stays an npm dependency. */
const externalizeNpmPackages = {
  name: "externalize-npm-packages",
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith("@imagesvc/") || args.path.startsWith("node:")) return undefined;
      const parts = args.path.split("/");
      const pkg = args.path.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0];
      const version = installedVersion(pkg, args.resolveDir);
      const seen = packages.get(pkg);
      if (seen !== undefined && seen !== version) {
        throw new Error(
          `${pkg} is imported at two versions (${seen} and ${version}); an app can ship one`,
        );
      }
      packages.set(pkg, version);
      return { path: args.path, external: true };
    });
  },
};

const app = JSON.parse(readFileSync(join(projectRoot, "package.json"), "utf8"));
await build({
  entryPoints: [join(projectRoot, "src", "main.ts")],
  outfile: join(outdir, "main.js"),
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node24",
  sourcemap: true,
  legalComments: "none",
  logLevel: "warning",
  logLimit: 3,
  plugins: [externalizeNpmPackages],
  // A command-line app (one with "bin") runs as an executable.
  ...(app.bin === undefined ? {} : { banner: { js: "#!/usr/bin/env node" } }),
});

const manifest = {
  name: `@imagesvc/${basename(projectRoot)}`,
  version: app.version,
  private: true,
  type: "module",
  main: "main.js",
  engines: { node: ">=24 <25" },
  ...(app.bin !== undefined && { bin: app.bin }),
  scripts: { start: "node --enable-source-maps main.js" },
  dependencies: Object.fromEntries([...packages].sort(([a], [b]) => a.localeCompare(b))),
};
writeFileSync(join(outdir, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
if (app.bin !== undefined) chmodSync(join(outdir, "main.js"), 0o755);
// The lockfile a container's `npm ci --omit=dev` installs from (from npm's cache when it can).
execFileSync(
  "npm",
  [
    "install",
    "--package-lock-only",
    "--prefer-offline",
    "--ignore-scripts",
    "--no-audit",
    "--no-fund",
  ],
  {
    cwd: outdir,
    stdio: ["ignore", "ignore", "inherit"],
  },
);
