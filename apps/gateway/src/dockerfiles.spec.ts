// The Dockerfiles' layer order depends on listing every workspace's package.json before
// `npm ci`; a new workspace that is not listed would break every image build. And nothing in them
// may need a registry the build cannot reach (a `# syntax=` line makes BuildKit pull a frontend).
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const workspaces = [
  ...["apps", "libs", "tools", "tests"].flatMap((dir) =>
    readdirSync(join(ROOT, dir))
      .filter((name) => existsSync(join(ROOT, dir, name, "package.json")))
      .map((name) => `${dir}/${name}/package.json`),
  ),
  "deploy/package.json",
];
const dockerfiles = readdirSync(join(ROOT, "apps"))
  .map((app) => `apps/${app}/Dockerfile`)
  .filter((path) => existsSync(join(ROOT, path)));

describe("the Dockerfiles", () => {
  it.each(dockerfiles)(
    "%s copies every workspace manifest before npm ci, and sources after",
    (path) => {
      const text = readFileSync(join(ROOT, path), "utf8");
      expect(text).not.toMatch(/^# syntax=/m);
      const install = text.indexOf("RUN npm ci --no-audit");
      const sources = text.indexOf("COPY . .");
      expect(install).toBeGreaterThan(0);
      expect(sources).toBeGreaterThan(install);
      for (const manifest of workspaces) {
        const at = text.indexOf(`COPY ${manifest} `);
        expect(at, `${path} does not copy ${manifest} before npm ci`).toBeGreaterThan(0);
        expect(at).toBeLessThan(install);
      }
    },
  );
});
