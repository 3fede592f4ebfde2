// The operations console: a static page the gateway serves under /console/ (dist/apps/console).
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/console/",
  build: {
    outDir: fileURLToPath(new URL("../../dist/apps/console", import.meta.url)),
    emptyOutDir: true,
    sourcemap: true,
    target: "es2022",
  },
});
