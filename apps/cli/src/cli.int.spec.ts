// The built `images` binary, run as a subprocess against a real stack: the emulator, Redis, the
// gateway and a worker, each from its build in dist/.
import {
  freePort,
  spawnApp,
  useTestRedis,
  type SpawnedApp,
  type TestRedis,
} from "@imagesvc/testing";
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const dist = (app: string) =>
  fileURLToPath(new URL(`../../../dist/apps/${app}/main.js`, import.meta.url));
const CLI = dist("cli");
let redis: TestRedis;
let emulator: SpawnedApp;
let worker: SpawnedApp;
let gateway: SpawnedApp;
let gatewayEnv: Record<string, string>;
let gatewayUrl: string;
/** The built gateway on the test's Redis and emulator; `env` adds to or overrides its settings. */
const spawnGateway = (env: Record<string, string> = {}) =>
  spawnApp({ main: dist("gateway"), env: { ...gatewayEnv, ...env }, ready: "gateway listening" });

beforeAll(async () => {
  redis = await useTestRedis();
  const prefix = redis.prefix.slice(0, -1);
  emulator = await spawnApp({
    main: dist("compute-emulator"),
    env: { PORT: "0", EMULATOR_OPERATION_DURATION_MS: "1500", EMULATOR_WAIT_CAP_MS: "200" },
    ready: "compute emulator listening",
  });
  const emulatorUrl = String(emulator.readyLine["url"]);
  worker = await spawnApp({
    main: dist("worker"),
    env: {
      REDIS_URL: redis.url,
      REDIS_PREFIX: prefix,
      COMPUTE_ENDPOINT: emulatorUrl,
      GCE_METADATA_HOST: emulatorUrl.replace("http://", ""),
      METADATA_SERVER_DETECTION: "assume-present",
      ADMIN_PORT: "0",
    },
    ready: "worker ready",
  });
  gatewayEnv = {
    PORT: String(await freePort()),
    HOST: "127.0.0.1",
    REDIS_URL: redis.url,
    REDIS_PREFIX: prefix,
    AUTH_MODE: "none",
    // The raw disk pre-flight reads the emulator's Cloud Storage with its metadata server's tokens.
    STORAGE_ENDPOINT: emulatorUrl,
    // `images family` reads Compute with the gateway's credentials (the same metadata server).
    COMPUTE_ENDPOINT: emulatorUrl,
    GCE_METADATA_HOST: emulatorUrl.replace("http://", ""),
    METADATA_SERVER_DETECTION: "assume-present",
  };
  gateway = await spawnGateway();
  gatewayUrl = `http://127.0.0.1:${gatewayEnv["PORT"] ?? ""}`;
});
afterAll(async () => {
  for (const app of [gateway, worker, emulator]) await app.stop();
  await redis.cleanup();
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
function images(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      CLI,
      args,
      { env: { PATH: process.env["PATH"] ?? "", IMAGES_GATEWAY: gatewayUrl, ...env } },
      (error, stdout, stderr) => {
        resolve({
          code: error === null ? 0 : typeof error.code === "number" ? error.code : -1,
          stdout,
          stderr,
        });
      },
    );
  });
}
/** The CLI started with `args`, and what it has printed so far on each stream. */
function running(args: string[]) {
  const child = spawn(CLI, args, {
    env: { PATH: process.env["PATH"] ?? "", IMAGES_GATEWAY: gatewayUrl },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  return { child, stdout: () => stdout, stderr: () => stderr };
}
const name = (base: string) => `${base}-${randomBytes(3).toString("hex")}`;
const source = (object = "web.tar.gz") => [
  "--source-uri",
  `https://storage.googleapis.com/my-bucket/${object}`,
];
/** `images create` arguments: a fresh image named after `base` in my-project, from `object`. */
const create = (base: string, object?: string) => [
  "create",
  name(base),
  "--project",
  "my-project",
  ...source(object),
];

describe("images create", () => {
  it("creates from an images.insert body with Secure Boot keys and deprecation as flags", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cli-body-"));
    try {
      const imageName = name("body");
      const body = join(dir, "body.json");
      writeFileSync(
        body,
        JSON.stringify({
          name: imageName,
          rawDisk: { source: "https://storage.googleapis.com/my-bucket/web.tar.gz" },
        }),
      );
      const pk = join(dir, "pk.der");
      writeFileSync(pk, Buffer.from([0x30, 0x82, 0x01, 0x00, ...randomBytes(64)]));
      const run = await images([
        "create",
        "--project",
        "my-project",
        "--body",
        body,
        "--shielded-pk",
        pk,
        "--shielded-db",
        pk,
        "--deprecated-state",
        "DEPRECATED",
        "--tag",
        "tagKeys/1=tagValues/2",
      ]);
      expect(run.stderr).toMatch(new RegExp(`Created \\[.*/global/images/${imageName}`));
      expect(run.code).toBe(0);
      const state = (await (
        await fetch(`${String(emulator.readyLine["url"])}/admin/state`)
      ).json()) as { images: Record<string, unknown>[] };
      const image = state.images.find((i) => i["name"] === imageName);
      expect(image?.["deprecated"]).toEqual({ state: "DEPRECATED" });
      expect(image?.["shieldedInstanceInitialState"]).toEqual({
        pk: { content: readFileSync(pk).toString("base64"), fileType: "X509" },
        dbs: [{ content: readFileSync(pk).toString("base64"), fileType: "X509" }],
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("prints one line per change off a TTY and exits 0 at DONE", async () => {
    const run = await images(create("web"));
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^operation-\S+ PENDING 0% \(v1\)$/);
    expect(lines.at(-1)).toMatch(/^operation-\S+ DONE 100% ok \(v\d+\)$/);
    expect(lines.some((l) => / RUNNING \d+% /.test(l))).toBe(true);
    expect(run.stderr).toMatch(/^Created \[.*\/global\/images\/web-/m);
  });

  it("prints NDJSON Operations with --json, versions strictly increasing", async () => {
    const run = await images(["--json", ...create("json")]);
    expect(run.code).toBe(0);
    const ops = run.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { version: number; status: string; kind: string });
    expect(ops.every((o) => o.kind === "compute#operation")).toBe(true);
    expect(ops.map((o) => o.version)).toEqual([...ops.map((o) => o.version)].sort((a, b) => a - b));
    expect(new Set(ops.map((o) => o.version)).size).toBe(ops.length);
    expect(ops.at(-1)?.status).toBe("DONE");
  });

  it("exits 1 and prints Compute's error lines when the operation fails", async () => {
    // Compute refuses the insert for good (400 invalid): the operation ends DONE with its error.
    await fetch(`${String(emulator.readyLine["url"])}/admin/faults`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        route: "images.insert",
        effect: "error",
        status: 400,
        reason: "invalid",
        message: "Invalid value for field 'resource.licenses[0]'",
        count: 1,
      }),
    });
    const run = await images(["--json", ...create("refused")]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /ERROR: operation operation-\S+ failed \(HTTP 400 BAD REQUEST\):\n - INVALID_FIELD_VALUE: Invalid value for field 'resource\.licenses\[0\]'/,
    );
    // One rule for every command that reports the operation: watch and get exit 1 too.
    const operation = (JSON.parse(run.stdout.trim().split("\n")[0] ?? "{}") as { name: string })
      .name;
    for (const command of ["watch", "get"]) {
      const again = await images([command, operation, "--project", "my-project"]);
      expect(again.code, command).toBe(1);
      expect(again.stderr, command).toMatch(/INVALID_FIELD_VALUE/);
    }
  });

  it("exits 2 when the pre-flight refuses the source: nothing was created", async () => {
    const run = await images(create("missing", "missing.tar.gz"));
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/failed the pre-flight check "the object exists"/);
  });

  it("exits 2 with every violation before any network call", async () => {
    const run = await images(
      [
        "create",
        "Bad_Name",
        "--project",
        "x",
        "--source-uri",
        "gs://b/x.tar.gz",
        "--labels",
        "Env=1",
      ],
      {
        IMAGES_GATEWAY: "http://127.0.0.1:1",
      },
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("nothing was sent");
    for (const flag of [
      "project (--project)",
      "image.name (IMAGE_NAME)",
      'image.labels["Env"] (--labels)',
      "image.raw_disk.source (--source-uri)",
    ]) {
      expect(run.stderr).toContain(flag);
    }
  });

  it("exits 2 on a usage error and 0 on --help, for every command", async () => {
    expect((await images(["create", "web"])).code).toBe(2); // --project is required
    expect(
      (await images(["create", "web", "--project", "my-project", "--labels", "nokey"])).code,
    ).toBe(2);
    for (const command of ["create", "watch", "get", "list", "cancel"]) {
      const help = await images([command, "--help"]);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain(`Usage: images ${command}`);
    }
  });

  it("exits 3 when the gateway is unreachable", async () => {
    const run = await images(["get", "operation-1", "--project", "my-project"], {
      IMAGES_GATEWAY: "http://127.0.0.1:1",
    });
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/is the gateway at http:\/\/127.0.0.1:1 running\?/);
  });

  it("shows a progress bar reaching 100% on a TTY", async () => {
    const transcript = join(tmpdir(), `images-tty-${randomBytes(4).toString("hex")}.txt`);
    const command = `${CLI} ${create("tty").join(" ")}`;
    const run = await new Promise<number>((resolve) => {
      execFile(
        "script",
        ["-qfec", command, transcript],
        { env: { PATH: process.env["PATH"] ?? "", IMAGES_GATEWAY: gatewayUrl, TERM: "xterm" } },
        (error) => {
          resolve(error === null ? 0 : typeof error.code === "number" ? error.code : -1);
        },
      );
    });
    const screen = readFileSync(transcript, "utf8");
    rmSync(transcript, { force: true });
    expect(run).toBe(0);
    expect(screen).toMatch(/=+ 100% \| DONE \| \d+s \| operation-/);
    expect(screen).toMatch(/\d+% \| RUNNING \|/);
  });
});

describe("images watch, get, list", () => {
  it("reports a misspelt option as itself, with the suggestion and a one-line hint, not as a missing --project", async () => {
    const run = await images(["get", "some-operation", "--projet", "my-project"]);
    expect(run.code).toBe(2);
    const lines = run.stderr.trim().split("\n");
    expect(lines[0]).toBe("error: unknown option '--projet'");
    expect(lines[1]).toBe("(Did you mean --project?)");
    expect(run.stderr).not.toMatch(/required option|Usage:/);
    expect(lines.length).toBeLessThanOrEqual(4);
    const missing = await images(["get", "some-operation"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(
      /--project is required: name the Cloud project \(or set IMAGES_PROJECT\)/,
    );
  });

  it("sends --notify as the request's webhook: this gateway allows no webhook host, and says so of --notify", async () => {
    const run = await images([...create("hooked"), "--notify", "https://hooks.example.com/x"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--notify/);
    expect(run.stderr).toMatch(/allows no webhook host/);
  });

  it("refuses import --bucket gs://… naming the fix, before anything else", async () => {
    const run = await images([
      "import",
      "disk.vmdk",
      "--project",
      "my-project",
      "--bucket",
      "gs://my-bucket/x",
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/without gs:\/\/ \(--bucket my-bucket\)/);
    expect(run.stderr).not.toMatch(/source-uri|"gs:"/);
  });

  it("on Ctrl-C while following, says the operation goes on and how to follow it again", async () => {
    const cli = running([...create("ctrl-c")]);
    const exited = once(cli.child, "exit") as Promise<[number | null]>;
    const printed = () => cli.stdout() + cli.stderr();
    for (let i = 0; i < 500 && !/operation-\d+-[0-9a-f]{32}/.test(printed()); i++)
      await new Promise((r) => setTimeout(r, 20));
    cli.child.kill("SIGINT");
    const [code] = await exited;
    expect(code).toBe(130);
    const operation = /operation-\d+-[0-9a-f]{32}/.exec(printed())?.[0] ?? "";
    const err = cli.stderr();
    expect(err).toContain(`Operation ${operation} goes on; follow it again with:`);
    expect(err).toContain(`images watch ${operation} --project my-project`);
  });

  it("creates with --async, then gets, lists and watches the operation", async () => {
    const created = await images([...create("async"), "--async"]);
    expect(created.code).toBe(0);
    const operation = created.stdout.trim();
    expect(operation).toMatch(/^operation-\d+-[0-9a-f]{32}$/);
    const got = await images(["get", operation, "--project", "my-project"]);
    expect(got.stdout).toMatch(new RegExp(`^${operation} (PENDING|RUNNING|DONE) `));
    const watched = await images(["watch", operation, "--project", "my-project"]);
    expect(watched.code).toBe(0);
    expect(watched.stdout.trim().split("\n").at(-1)).toMatch(/DONE 100% ok/);
    const listed = await images([
      "--json",
      "list",
      "--project",
      "my-project",
      "--status",
      "DONE",
      "--limit",
      "50",
    ]);
    expect(listed.stdout.split("\n").some((l) => l.includes(operation))).toBe(true);
    const table = await images(["list", "--project", "my-project", "--limit", "5"]);
    expect(table.stdout.split("\n")[0]).toMatch(/^OPERATION +STATUS +PROG +IMAGE +RESULT$/);
    expect(
      (
        await images([
          "get",
          "operation-1-0123456789abcdef0123456789abcdef",
          "--project",
          "my-project",
        ])
      ).code,
    ).toBe(2);
  });

  it("cancels an operation held before dispatch: cancel exits 0, then get of it exits 1", async () => {
    const port = String(await freePort());
    const holding = await spawnGateway({ PORT: port, JOB_START_DELAY_MS: "60000" });
    try {
      const env = { IMAGES_GATEWAY: `http://127.0.0.1:${port}` };
      const created = await images([...create("held"), "--async"], env);
      const operation = created.stdout.trim();
      const cancelled = await images(["cancel", operation, "--project", "my-project"], env);
      expect(cancelled.code).toBe(0);
      expect(cancelled.stdout).toMatch(/DONE 100% FAILED/);
      const got = await images(["get", operation, "--project", "my-project"], env);
      expect(got.code).toBe(1);
      expect(got.stderr).toMatch(/CANCELLED/);
      const again = await images(["cancel", operation, "--project", "my-project"], env);
      expect(again.code).toBe(0); // already cancelled: still where cancel wants it
    } finally {
      await holding.stop();
    }
  });

  it("reconnects and resumes when the gateway restarts mid-watch", async () => {
    const created = await images([...create("resume"), "--async"]);
    const operation = created.stdout.trim();
    const cli = running(["watch", operation, "--project", "my-project"]);
    // Restart the gateway once the CLI has shown the first state, mid-watch.
    for (let i = 0; i < 200 && cli.stdout() === ""; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(cli.stdout()).not.toBe("");
    await gateway.stop();
    await new Promise((r) => setTimeout(r, 300));
    gateway = await spawnGateway();
    const [code] = (await once(cli.child, "exit")) as [number | null];
    expect(code).toBe(0);
    const lines = cli.stdout().trim().split("\n");
    const versions = lines.map((l) => Number(/\(v(\d+)\)$/.exec(l)?.[1]));
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(versions).size).toBe(versions.length);
    expect(lines.at(-1)).toMatch(/DONE 100% ok/);
    expect(cli.stderr()).toMatch(/stream lost; reconnecting/);
  });

  it("waits out a gateway that is down when the watch starts", async () => {
    const created = await images([...create("late-gw"), "--async"]);
    const operation = created.stdout.trim();
    await gateway.stop();
    const watching = images(["watch", operation, "--project", "my-project"]);
    await new Promise((r) => setTimeout(r, 500));
    gateway = await spawnGateway();
    const run = await watching;
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split("\n").at(-1)).toMatch(/DONE 100% ok/);
  });
});

describe("images promote, rollback, deprecate, retention, share, family", () => {
  it("releases a family's images and shows the family, naming the flag of any bad input", async () => {
    const family = name("fam");
    const made: string[] = [];
    for (const base of ["rel-a", "rel-b"]) {
      const image = name(base);
      const run = await images([
        ...create(base).slice(0, 1),
        image,
        "--project",
        "my-project",
        "--family",
        family,
        ...source(),
      ]);
      expect(run.code).toBe(0);
      made.push(image);
    }
    const [a = "", b = ""] = made;
    /** `images` with `--project my-project`. */
    const inMyProject = (...args: string[]) => images([...args, "--project", "my-project"]);
    const promoted = await inMyProject("promote", a);
    expect(promoted.code).toBe(0);
    expect(promoted.stderr).toContain(`Done: ${family} resolves to ${a}; ${b} is DEPRECATED`);
    const shown = await inMyProject("family", family, "--json");
    expect(JSON.parse(shown.stdout)).toMatchObject({
      resolvesTo: a,
      images: [
        { name: b, state: "DEPRECATED" },
        { name: a, state: "ACTIVE" },
      ],
    });
    const back = await inMyProject("rollback", family, "--to", b);
    expect(back.code).toBe(0);
    expect(back.stderr).toContain(`${family} resolves to ${b}`);
    const planned = await inMyProject("deprecate", a, "--replacement", b, "--obsolete-in", "30d");
    expect(planned.code).toBe(0);
    expect(planned.stderr).toMatch(/scheduled: OBSOLETE at 20\d\d-/);
    const table = await inMyProject("family", family);
    expect(table.stdout.split("\n")[0]).toBe(`${family} resolves to ${b}`);
    expect(table.stdout).toMatch(new RegExp(`${a} +READY +DEPRECATED .* OBSOLETE at 20`));
    const kept = await inMyProject("retention", family, "--keep-newest", "5");
    expect(kept.code).toBe(0);
    expect(kept.stdout).toContain(`family ${family} keeps the newest 5 images`);
    const shared = await inMyProject(
      "share",
      b,
      "--member",
      "serviceAccount:boot@other.iam.gserviceaccount.com",
    );
    expect(shared.code).toBe(0);
    expect(shared.stderr).toContain("holds roles/compute.imageUser");
    const bad = await inMyProject("share", b, "--member", "boot@other.example.com");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("members[0] (--member):");
    const when = await inMyProject("deprecate", a, "--obsolete-in", "3 months");
    expect(when.code).toBe(2);
    expect(when.stderr).toContain('--obsolete-in: "3 months" is not a duration');
    const missing = await inMyProject("promote", name("nope"));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/RESOURCE_NOT_FOUND: image nope-\w+ does not exist/);
  });
});

describe("credentials", () => {
  it("sends --token, and exits 3 when the gateway refuses the credentials", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cli-auth-"));
    const token = randomBytes(24).toString("hex");
    writeFileSync(
      join(dir, "tokens.json"),
      JSON.stringify({ tokens: [{ principal: "ci@builds", token }] }),
    );
    writeFileSync(
      join(dir, "policy.json"),
      JSON.stringify({
        grants: [{ principal: "ci@builds", projects: ["my-project"], actions: ["read"] }],
      }),
    );
    const port = String(await freePort());
    const secured = await spawnGateway({
      PORT: port,
      AUTH_MODE: "tokens",
      AUTH_TOKENS_FILE: join(dir, "tokens.json"),
      AUTH_POLICY_FILE: join(dir, "policy.json"),
    });
    try {
      const get = (env: Record<string, string>) =>
        images(["get", "operation-1-0123456789abcdef0123456789abcdef", "--project", "my-project"], {
          IMAGES_GATEWAY: `http://127.0.0.1:${port}`,
          ...env,
        });
      const refused = await get({ IMAGES_TOKEN: "wrong-token-wrong-token" });
      expect(refused.code).toBe(3);
      expect(refused.stderr).toContain("unauthenticated");
      expect((await get({})).code).toBe(3);
      const accepted = await get({ IMAGES_TOKEN: token });
      expect(accepted.code).toBe(2); // authenticated; the operation does not exist
      expect(accepted.stderr).toContain("not_found");
    } finally {
      await secured.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
