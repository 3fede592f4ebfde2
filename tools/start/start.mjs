// `npm start`: the whole stack on this machine, for local use. Redis is REDIS_URL, else
// 127.0.0.1:6379 if it answers, else a redis-server spawned in a temporary directory. Then the
// Compute emulator, the gateway and a worker, each from its build in dist/. Ctrl-C stops them all.
// Deployed apps never fall back to the emulator: only this script points them at it.
import { Redis } from "ioredis";
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const children = [];
let tempDir;
let secretDir;

function log(message) {
  process.stdout.write(`[start] ${message}\n`);
}

/** True if a Redis server answers PING at host:port. */
function answersPing(host, port) {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 500 }, () => socket.write("PING\r\n"));
    socket.once("data", (data) => {
      socket.destroy();
      resolve(data.toString().startsWith("+PONG"));
    });
    for (const event of ["error", "timeout"])
      socket.once(event, () => (socket.destroy(), resolve(false)));
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.once("error", reject);
  });
}

/** True if nothing listens on 127.0.0.1:`port`. */
function portIsFree(port) {
  return new Promise((resolve) => {
    const server = createServer()
      .once("error", () => resolve(false))
      .listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

async function redisUrl() {
  if (process.env.REDIS_URL) return process.env.REDIS_URL;
  if (await answersPing("127.0.0.1", 6379)) return "redis://127.0.0.1:6379";
  if (spawnSync("redis-server", ["--version"]).error) {
    log("No Redis answers on 127.0.0.1:6379 and redis-server is not installed.");
    log(
      "Start one with `docker compose up -d redis`, or install it (Debian/Ubuntu: `sudo apt-get install redis-server`,",
    );
    log("macOS: `brew install redis`), or set REDIS_URL to a Redis you have.");
    process.exit(1);
  }
  const port = await freePort();
  tempDir = mkdtempSync(join(tmpdir(), "imagesvc-redis-"));
  // Local only, nothing kept: no snapshots, no append-only file, files in a directory of its own.
  const config = { port, bind: "127.0.0.1", save: "", appendonly: "no", dir: tempDir };
  const args = Object.entries(config).flatMap(([name, value]) => [`--${name}`, String(value)]);
  run("redis", "redis-server", args, {});
  for (let i = 0; i < 100 && !(await answersPing("127.0.0.1", port)); i++)
    await new Promise((r) => setTimeout(r, 50));
  log(`started redis-server on 127.0.0.1:${port} (data in ${tempDir}, removed on exit)`);
  return `redis://127.0.0.1:${port}`;
}

/** Runs a child with its output prefixed; resolves once `ready` appears in it. */
function run(name, command, args, env, ready) {
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let announced = false;
  return new Promise((resolve, reject) => {
    const onLine = (line) => {
      if (ready && !announced && line.includes(ready)) {
        announced = true;
        resolve(child);
      }
      if (process.env.START_VERBOSE || /"level":(4|5|6)0/.test(line))
        process.stdout.write(`[${name}] ${line}\n`);
    };
    for (const stream of [child.stdout, child.stderr]) {
      let buffered = "";
      stream.on("data", (chunk) => {
        buffered += chunk.toString();
        const lines = buffered.split("\n");
        buffered = lines.pop() ?? "";
        lines.forEach(onLine);
      });
    }
    child.once("exit", (code, signal) => {
      if (!stopping) {
        log(`${name} exited (${signal ?? code}); stopping everything`);
        void stop(1);
      }
      if (!announced) reject(new Error(`${name} exited before it was ready`));
    });
    if (!ready) resolve(child);
  });
}

let stopping = false;
let ownPrefix;
let redisForCleanup;

/** Removes this run's keys: its records (`P:…`) and its queue (`{P:queue}…`). */
async function removeKeys(url, prefix) {
  const client = url.startsWith("redis+cluster://")
    ? undefined
    : new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  if (client === undefined) return; // a cluster: the keys expire with RECORD_RETENTION_MS
  try {
    await client.connect();
    let removed = 0;
    for (const pattern of [`${prefix}:*`, `{${prefix}:queue}*`]) {
      let cursor = "0";
      do {
        const [next, keys] = await client.scan(cursor, "MATCH", pattern, "COUNT", 1000);
        cursor = next;
        if (keys.length > 0) removed += await client.unlink(...keys);
      } while (cursor !== "0");
    }
    log(`removed this run's ${removed} Redis keys (prefix ${prefix})`);
  } catch (e) {
    log(
      `could not remove this run's Redis keys (prefix ${prefix}): ${e.message}; they expire within a day`,
    );
  } finally {
    client.disconnect();
  }
}
async function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  log("stopping…");
  await Promise.all(
    children
      .filter((c) => c.exitCode === null && c.signalCode === null)
      .map(
        (c) =>
          new Promise((resolve) => {
            c.once("exit", resolve);
            c.kill("SIGTERM");
            setTimeout(() => c.kill("SIGKILL"), 15_000).unref();
          }),
      ),
  );
  if (ownPrefix && redisForCleanup && !tempDir) await removeKeys(redisForCleanup, ownPrefix);
  if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  if (secretDir) rmSync(secretDir, { recursive: true, force: true });
  log("stopped");
  process.exit(code);
}
process.on("SIGINT", () => void stop(0));
process.on("SIGTERM", () => void stop(0));

const redis = await redisUrl();
// 8085 (the README's examples name it) unless it is taken; EMULATOR_PORT to choose.
const emulatorPort = Number(
  process.env.EMULATOR_PORT ?? ((await portIsFree(8085)) ? 8085 : await freePort()),
);
const gatewayPort = Number(process.env.PORT ?? 8080);
const node = process.execPath;
const emulatorUrl = `http://127.0.0.1:${emulatorPort}`;

await run(
  "emulator",
  node,
  ["dist/apps/compute-emulator/main.js"],
  {
    PORT: String(emulatorPort),
    EMULATOR_OPERATION_DURATION_MS: process.env.EMULATOR_OPERATION_DURATION_MS ?? "8000",
    EMULATOR_WAIT_CAP_MS: process.env.EMULATOR_WAIT_CAP_MS ?? "1000",
  },
  "listening",
);
// Each run writes under a prefix of its own and removes its keys on exit: the emulator forgets
// everything when it stops, so operations kept past it would point at nothing. REDIS_PREFIX
// names a prefix to keep instead (then nothing is removed).
ownPrefix =
  process.env.REDIS_PREFIX === undefined
    ? `imagesvc-local-${randomBytes(4).toString("hex")}`
    : undefined;
redisForCleanup = redis;
// This run's webhook signing secret, in a file of its own, removed on exit.
secretDir = mkdtempSync(join(tmpdir(), "imagesvc-webhooks-"));
const webhookSecretFile = join(secretDir, "webhook-secret");
writeFileSync(webhookSecretFile, `whsec_${randomBytes(32).toString("base64")}\n`, { mode: 0o600 });
const shared = {
  REDIS_URL: redis,
  REDIS_PREFIX: process.env.REDIS_PREFIX ?? ownPrefix,
  RECORD_RETENTION_MS: process.env.RECORD_RETENTION_MS ?? String(24 * 3600_000),
};
await run(
  "worker",
  node,
  ["dist/apps/worker/main.js"],
  {
    ...shared,
    COMPUTE_ENDPOINT: emulatorUrl,
    // A free port for /metrics, so a second stack (or a test's) does not collide on 9464.
    ADMIN_PORT: process.env.ADMIN_PORT ?? String(await freePort()),
    ADMIN_HOST: "127.0.0.1",
    GCE_METADATA_HOST: `127.0.0.1:${emulatorPort}`,
    METADATA_SERVER_DETECTION: "assume-present",
    // Webhooks to receivers on this machine (local mode), signed with this run's own secret.
    WEBHOOK_SECRET_FILE: webhookSecretFile,
    WEBHOOK_ALLOW_LOCAL_HTTP: "true",
    // Scheduled deprecations and retention are enacted within a second, not the default 30 s.
    RECONCILE_INTERVAL_MS: process.env.RECONCILE_INTERVAL_MS ?? "1000",
  },
  "worker ready",
);
await run(
  "gateway",
  node,
  ["dist/apps/gateway/main.js"],
  {
    ...shared,
    PORT: String(gatewayPort),
    HOST: "127.0.0.1",
    AUTH_MODE: "none", // local use only; the gateway logs a loud warning
    // The raw disk pre-flight reads the emulator's Cloud Storage, with its metadata server's tokens.
    STORAGE_ENDPOINT: emulatorUrl,
    // GetFamily (images family, the console's family view) reads the emulator's Compute.
    COMPUTE_ENDPOINT: emulatorUrl,
    GCE_METADATA_HOST: `127.0.0.1:${emulatorPort}`,
    METADATA_SERVER_DETECTION: "assume-present",
    DEFAULT_USER: process.env.USER ?? "local",
    // JOB_START_DELAY_MS=30000 npm start holds each new operation 30 s before a worker takes it,
    // so that `images cancel` can be seen to work (the worker takes jobs within milliseconds).
    JOB_START_DELAY_MS: process.env.JOB_START_DELAY_MS ?? "0",
    WEBHOOK_ALLOW_LOCAL_HTTP: "true",
  },
  "gateway listening",
);

const gateway = `http://127.0.0.1:${gatewayPort}`;
log(`Compute emulator: ${emulatorUrl} (admin API: ${emulatorUrl}/admin/state)`);
log(
  `Redis: ${redis}${ownPrefix ? ` (this run's keys under ${ownPrefix}, removed on exit)` : ` (prefix ${shared.REDIS_PREFIX}, kept)`}`,
);
log(`gateway ready: ${gateway}  (Connect, gRPC and gRPC-Web)`);
log(`operations console: ${gateway}/console/`);
log(
  `webhooks: to http://127.0.0.1 receivers, signed with the secret in ${webhookSecretFile} (README, "Get notified")`,
);
log("create an image and watch it, with the CLI (in another terminal):");
process.stdout.write(`
  export IMAGES_GATEWAY=${gateway}
  node dist/apps/cli/main.js create hello-1 --project my-project \\
    --source-image projects/debian-cloud/global/images/family/debian-12

Every RPC with curl, buf curl and @grpc/grpc-js: README.md, "Try it"; promote, roll back,
deprecate on a schedule, retention and sharing: README.md, "Release an image".

import a disk file (vmdk, vhd, vhdx, qcow2, raw) into an image, through the emulator's Cloud Storage:

  export IMAGES_STORAGE_ENDPOINT=${emulatorUrl} GCE_METADATA_HOST=127.0.0.1:${emulatorPort} METADATA_SERVER_DETECTION=assume-present
  node dist/apps/cli/main.js import ./disk.vmdk --project my-project --bucket my-bucket

Ctrl-C stops everything.
`);
