// Bundles the bench (main.js and its watch-client.js child) into dist/tools/bench, with our libs
// inlined and npm packages left as imports, the way tools/build-app.mjs builds the apps.
import { build } from "esbuild";

await build({
  entryPoints: [
    "tools/bench/src/main.ts",
    "tools/bench/src/watch-client.ts",
    "tools/bench/src/fanout-minimal.ts",
    "tools/bench/src/fanout-publisher.ts",
    "tools/bench/src/grpc-js-ceiling.ts",
    "tools/bench/src/plain-upload.ts",
  ],
  outdir: "dist/tools/bench",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node24",
  sourcemap: true,
  logLevel: "warning",
  plugins: [
    {
      name: "externalize-npm-packages",
      setup(b) {
        b.onResolve({ filter: /^[^./]/ }, (args) =>
          args.path.startsWith("@imagesvc/") ? undefined : { path: args.path, external: true },
        );
      },
    },
  ],
});
