// The @connectrpc/* packages are pinned exactly, in every package.json of the repo, because the
// serving edge leans on parts of connect that semver does not cover: the private entry points
// `@connectrpc/connect/protocol` and `/protocol-grpc` ("Internal code, does not follow semantic
// versioning"), and connect-node's adapter, copied into connect-handler.ts. A caret range would
// let `npm install` bring a release in under them unchecked. This fails on any other version.
import { existsSync, globSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

/** The version the serving edge was last checked against. Move it only with RECHECK done. */
const CHECKED = "2.3.0";

const RECHECK = `@connectrpc/* must be exactly ${CHECKED}, as checked. To move the pin, set every
@connectrpc/* in every package.json to the new version (exact, no ^ or ~), npm install, and
re-check in libs/serving before changing CHECKED in connect-pin.spec.ts:
- grpc/invoke.ts: invokeUnaryImplementation (@connectrpc/connect/protocol) still runs the
  interceptors, gives the implementation its context and copies headers and trailers back;
- grpc/grpc-path.ts, grpc/grpc-stream.ts: parseTimeout and setTrailerStatus
  (@connectrpc/connect/protocol-grpc) keep their signatures and meaning;
- connect-handler.ts against connect-node's connectNodeAdapter (defaults, path matching,
  fallback, logging), universalResponseToNodeResponse (the HTTP/1.1 body drain that
  "Connection: close" skips, the HTTP/2 NO_ERROR reset that grpc-stream.ts copies), and whether
  connect now bounds the request body and the gate by the deadline itself (deadline.ts);
- then run libs/serving's specs: grpc-path.spec.ts holds the gRPC path to connect-node's
  answers, deadline.spec.ts the deadline on both paths.`;

const root = join(import.meta.dirname, "..", "..", "..");

interface Manifest {
  readonly workspaces?: readonly string[];
  readonly dependencies?: Record<string, string>;
  readonly devDependencies?: Record<string, string>;
  readonly peerDependencies?: Record<string, string>;
  readonly optionalDependencies?: Record<string, string>;
}

function read(path: string): unknown {
  return JSON.parse(readFileSync(path, "utf8"));
}

/** The root package.json and every workspace's, relative to the repo root. */
function manifests(): string[] {
  const workspaces = (read(join(root, "package.json")) as Manifest).workspaces ?? [];
  return [
    "package.json",
    ...workspaces.flatMap((pattern) => globSync(`${pattern}/package.json`, { cwd: root })),
  ].sort();
}

/** Every @connectrpc/* dependency, as "file: name@range". */
function connectRanges(): string[] {
  const found: string[] = [];
  for (const file of manifests()) {
    const m = read(join(root, file)) as Manifest;
    for (const deps of [
      m.dependencies,
      m.devDependencies,
      m.peerDependencies,
      m.optionalDependencies,
    ])
      for (const [name, range] of Object.entries(deps ?? {}))
        if (name.startsWith("@connectrpc/")) found.push(`${file}: ${name}@${range}`);
  }
  return found;
}

/** Fails with RECHECK, listing them, unless every one of `found` ("…@version") is at CHECKED. */
function expectAllChecked(found: string[]): void {
  expect(
    found.filter((f) => !f.endsWith(`@${CHECKED}`)),
    RECHECK,
  ).toEqual([]);
}

describe("the @connectrpc/* pin", () => {
  it("is exact and the same in every package.json that lists a @connectrpc package", () => {
    const ranges = connectRanges();
    expect(ranges.length).toBeGreaterThan(0);
    expectAllChecked(ranges);
  });

  it("is what the lockfile installs, so npm ci brings exactly the checked version", () => {
    const lock = read(join(root, "package-lock.json")) as {
      packages: Record<string, { version?: string }>;
    };
    const locked = Object.entries(lock.packages)
      .filter(([path]) => /(^|\/)node_modules\/@connectrpc\/[^/]+$/.test(path))
      .map(([path, entry]) => `${path}@${entry.version ?? "?"}`);
    expect(locked.length).toBeGreaterThan(0);
    expectAllChecked(locked);
  });

  it("is what is installed now, wherever Node would load a @connectrpc package from", () => {
    const names = new Set(
      connectRanges().map((r) => r.slice(r.indexOf(": ") + 2, r.lastIndexOf("@"))),
    );
    // The root's node_modules, and any workspace's own (npm nests a second version there).
    const dirs = new Set(manifests().map((f) => f.slice(0, -"package.json".length)));
    const installed: string[] = [];
    for (const dir of dirs)
      for (const name of names) {
        const manifest = join(root, dir, "node_modules", name, "package.json");
        if (existsSync(manifest))
          installed.push(
            `${dir}node_modules/${name}@${(read(manifest) as { version: string }).version}`,
          );
      }
    expect(installed.filter((i) => i.startsWith("node_modules/")).length).toBe(names.size);
    expectAllChecked(installed);
  });
});
