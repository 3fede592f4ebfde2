// Builds an app into dist/<projectRoot>/main.js: one ESM bundle holding the app and our libs, with
// npm packages left as imports. Beside it goes a package.json naming exactly the packages the
// bundle imports, at the versions installed here, so `npm install --omit=dev` in that folder
// gives a production tree with nothing else. Usage: node tools/build-app.mjs apps/<app>
import { build } from "esbuild";
import { readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";

const projectRoot = process.argv[2];
if (!projectRoot?.startsWith("apps/"))
  throw new Error("usage: node tools/build-app.mjs apps/<app>");
const outdir = join("dist", projectRoot);
const packages = new Set();

/** Our own workspace libs are bundled; every other bare import stays an npm dependency. */
const externalizeNpmPackages = {
  name: "externalize-npm-packages",
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith("@imagesvc/") || args.path.startsWith("node:")) return undefined;
      const parts = args.path.split("/");
      packages.add(args.path.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0]);
      return { path: args.path, external: true };
    });
  },
};

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
  plugins: [externalizeNpmPackages],
});

const version = (pkg) =>
  JSON.parse(readFileSync(join("node_modules", pkg, "package.json"), "utf8")).version;
const app = JSON.parse(readFileSync(join(projectRoot, "package.json"), "utf8"));
const manifest = {
  name: `@imagesvc/${basename(projectRoot)}`,
  version: app.version,
  private: true,
  type: "module",
  main: "main.js",
  engines: { node: ">=24 <25" },
  scripts: { start: "node --enable-source-maps main.js" },
  dependencies: Object.fromEntries([...packages].sort().map((p) => [p, version(p)])),
};
writeFileSync(join(outdir, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
