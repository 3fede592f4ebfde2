import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { healthV1, ImageService, RetryInfoSchema } from "@imagesvc/proto";
import { freePort, spawnApp } from "@imagesvc/testing";
import { createHash, randomBytes, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, createMetrics } from "@imagesvc/telemetry";
import { execFile } from "node:child_process";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import { testSettings } from "@imagesvc/testing";
import { pino } from "pino";
import { Policy } from "@imagesvc/image-service";
import { startGateway } from "@imagesvc/image-service";
import { startGoogleIdTokens, type GoogleIdTokens } from "./google-id-tokens.test-helper";
import { drain, imageRequest, serviceClient, startStack, type Stack } from "./stack.test-helper";

const BUF = fileURLToPath(new URL("../../../../node_modules/.bin/buf", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "gateway-auth-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");
const CI = `ci-${randomBytes(16).toString("hex")}`;
const DEV = `dev-${randomBytes(16).toString("hex")}`;
const ADMIN = `admin-${randomBytes(16).toString("hex")}`;

function writeJson(name: string, value: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(value));
  return path;
}
const tokensFile = writeJson("tokens.json", {
  tokens: [
    { principal: "ci@builds", sha256: sha256(CI) },
    { principal: "dev@team", token: DEV },
    { principal: "admin@ops", sha256: sha256(ADMIN) },
  ],
});
const policyFile = writeJson("policy.json", {
  grants: [
    {
      principal: "ci@builds",
      projects: ["my-project"],
      actions: ["create", "read", "cancel"],
      buckets: ["my-bucket"],
    },
    { principal: "dev@team", projects: ["my-project"], actions: ["read"] },
    {
      principal: "admin@ops",
      projects: ["*"],
      actions: ["create", "read", "cancel"],
      buckets: ["*"],
    },
    {
      principal: "alice@example.com",
      projects: ["my-project"],
      actions: ["create", "read"],
      buckets: ["my-bucket"],
    },
  ],
});

function clientAs(stack: Stack, token?: string): Client<typeof ImageService> {
  return serviceClient(
    stack.gateway.url,
    token === undefined ? {} : { authorization: `Bearer ${token}` },
  );
}
const code = (e: unknown) =>
  e instanceof ConnectError ? Code[e.code] : `not a ConnectError: ${String(e)}`;

describe("bearer tokens and the policy", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      gateway: { auth: { mode: "tokens", tokensFile }, policy: Policy.load(policyFile) },
    });
  });
  afterAll(async () => {
    await stack.close();
  });

  it("answers UNAUTHENTICATED without a token or with a wrong one, and leaves health open", async () => {
    expect(
      code(
        await clientAs(stack)
          .createImage(imageRequest("x"))
          .catch((e: unknown) => e),
      ),
    ).toBe("Unauthenticated");
    expect(
      code(
        await clientAs(stack, "nope-nope-nope-nope")
          .getOperation({
            project: "my-project",
            operation: "operation-1-0123456789abcdef0123456789abcdef",
          })
          .catch((e: unknown) => e),
      ),
    ).toBe("Unauthenticated");
    const health = createClient(
      healthV1.Health,
      createConnectTransport({ baseUrl: stack.gateway.url, httpVersion: "2" }),
    );
    expect((await health.check({ service: "" })).status).toBe(
      healthV1.HealthCheckResponse_ServingStatus.SERVING,
    );
  });

  it("asks reflection for a token too: buf curl lists the services only with one", async () => {
    const list = (...headers: string[]) =>
      promisify(execFile)(BUF, [
        "curl",
        "--protocol",
        "grpc",
        "--http2-prior-knowledge",
        ...headers,
        "--list-services",
        stack.gateway.url,
      ]);
    const refused = await list().catch((e: unknown) => e);
    // buf curl's words for UNAUTHENTICATED are those of its own registry's login.
    expect(refused).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^Failure: you are not authenticated/) as string,
    });
    const { stdout } = await list("--reflect-header", `authorization: Bearer ${DEV}`);
    expect(stdout).toContain("computeimages.v1.ImageService");
  });

  it("honours a client's deadline: the wait ends with DEADLINE_EXCEEDED and the gateway lets go", async () => {
    stack.emulator.admin.configure({ operationDurationMs: 60_000 });
    try {
      const op = await clientAs(stack, CI).createImage(imageRequest("deadline"));
      const started = Date.now();
      const error = await clientAs(stack, CI)
        .waitOperation({ project: "my-project", operation: op.name }, { timeoutMs: 300 })
        .catch((e: unknown) => e);
      expect(code(error)).toBe("DeadlineExceeded");
      expect(Date.now() - started).toBeLessThan(2000);
      for (let i = 0; i < 50 && stack.gateway.bus.stats().watchers > 0; i++)
        await new Promise((r) => setTimeout(r, 20));
      expect(stack.gateway.bus.stats().watchers).toBe(0);
    } finally {
      stack.emulator.admin.configure({ operationDurationMs: 600 });
    }
  });

  it("creates as the token's principal, in granted projects only", async () => {
    const op = await clientAs(stack, CI).createImage(imageRequest("by-ci"));
    expect(op.user).toBe("ci@builds");
    expect(
      code(
        await clientAs(stack, CI)
          .createImage({ ...imageRequest("elsewhere"), project: "other-project" })
          .catch((e: unknown) => e),
      ),
    ).toBe("PermissionDenied");
    expect(
      code(
        await clientAs(stack, DEV)
          .createImage(imageRequest("by-dev"))
          .catch((e: unknown) => e),
      ),
    ).toBe("PermissionDenied");
  });

  it("lets a reader read but not cancel, and hides other projects' operations as NOT_FOUND", async () => {
    const mine = await clientAs(stack, CI).createImage(imageRequest("mine"));
    const theirs = await clientAs(stack, ADMIN).createImage({
      ...imageRequest("theirs"),
      project: "other-project",
    });
    const dev = clientAs(stack, DEV);
    expect((await dev.getOperation({ project: "my-project", operation: mine.name })).name).toBe(
      mine.name,
    );
    expect(
      (await dev.getOperationHistory({ project: "my-project", operation: mine.name })).versions[0],
    ).toMatchObject({ name: mine.name, version: 1 });
    expect(
      code(
        await dev
          .cancelOperation({ project: "my-project", operation: mine.name })
          .catch((e: unknown) => e),
      ),
    ).toBe("PermissionDenied");
    // Thunks: each call starts only when awaited, so none rejects unobserved.
    const reads = [
      () => dev.getOperation({ project: "other-project", operation: theirs.name }),
      () => dev.waitOperation({ project: "other-project", operation: theirs.name }),
      () => dev.getOperationHistory({ project: "other-project", operation: theirs.name }),
      () => drain(dev.watchOperation({ project: "other-project", operation: theirs.name })),
    ];
    for (const read of reads) {
      expect(code(await read().catch((e: unknown) => e))).toBe("NotFound");
    }
    expect(
      code(await dev.listOperations({ project: "other-project" }).catch((e: unknown) => e)),
    ).toBe("PermissionDenied");
    expect(
      (
        await clientAs(stack, ADMIN).getOperation({
          project: "other-project",
          operation: theirs.name,
        })
      ).user,
    ).toBe("admin@ops");
  });
});

describe("Google-signed ID tokens", () => {
  let google: GoogleIdTokens;
  let stack: Stack;
  const logLines: string[] = [];
  const logSink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString());
      done();
    },
  });
  /** A token of the gateway's hosted domain, example.com, unless `claims` say otherwise. */
  const idToken = (claims: Record<string, unknown>, key?: KeyObject) =>
    google.idToken({ hd: "example.com", ...claims }, key);

  beforeAll(async () => {
    google = await startGoogleIdTokens();
    stack = await startStack({
      gateway: {
        auth: {
          mode: "google",
          audience: google.audience,
          certsUrl: google.certsUrl,
          accounts: { hostedDomains: ["example.com"] },
        },
        policy: Policy.load(policyFile),
        log: createLogger("gateway", "debug", logSink),
      },
    });
  });
  afterAll(async () => {
    await stack.close();
    google.close();
  });

  it("accepts a valid token of the hosted domain and acts as its email, and never logs a token", async () => {
    const token = idToken({});
    const op = await clientAs(stack, token).createImage(imageRequest("by-alice"));
    expect(op.user).toBe("alice@example.com");
    const forged = idToken({}, google.impostorKey);
    await clientAs(stack, forged)
      .createImage(imageRequest("forged"))
      .catch(() => undefined);
    const logs = logLines.join("");
    expect(logs).toContain("image creation accepted");
    for (const secret of [token, forged, token.split(".")[2] ?? "x", forged.split(".")[2] ?? "x"])
      expect(logs).not.toContain(secret);
  });

  it.each([
    [
      "expired",
      () =>
        idToken({
          iat: Math.floor(Date.now() / 1000) - 7200,
          exp: Math.floor(Date.now() / 1000) - 3600,
        }),
    ],
    ["for another audience", () => idToken({ aud: "https://someone-else.example" })],
    ["signed by another key", () => idToken({}, google.impostorKey)],
    ["from another issuer", () => idToken({ iss: "https://evil.example" })],
    ["malformed", () => "not.a.jwt"],
  ])("answers UNAUTHENTICATED for a token %s", async (_, token) => {
    expect(
      code(
        await clientAs(stack, token())
          .createImage(imageRequest("nope"))
          .catch((e: unknown) => e),
      ),
    ).toBe("Unauthenticated");
  });

  it.each([
    ["whose email Google has not verified", { email_verified: false }, /is not verified by Google/],
    [
      "of another hosted domain",
      { email: "eve@evil.example", hd: "evil.example" },
      /eve@evil\.example belongs to the hosted domain evil\.example; this gateway accepts accounts of example\.com only/,
    ],
    [
      "of no hosted domain (a consumer account)",
      { email: "eve@gmail.com", hd: undefined },
      /eve@gmail\.com belongs to no hosted domain .*accepts accounts of example\.com only/,
    ],
    [
      "without an email",
      { email: undefined, email_verified: undefined },
      /carries no email; mint it with the email claim/,
    ],
  ])("answers UNAUTHENTICATED for a token %s, and says why", async (_, claims, message) => {
    const error = await clientAs(stack, idToken(claims))
      .createImage(imageRequest("nope"))
      .catch((e: unknown) => e);
    expect(code(error)).toBe("Unauthenticated");
    expect((error as ConnectError).rawMessage).toMatch(message);
  });
});

describe("AUTH_MODE=google's accounts, at start", () => {
  const WARNING = 'AUTH_GOOGLE_ALLOW_ANY_ACCOUNT=true AND THE POLICY GRANTS PRINCIPAL "*"';
  const everyonePolicy = writeJson("everyone-policy.json", {
    grants: [{ principal: "*", projects: ["my-project"], actions: ["read"] }],
  });
  const start = (env: Record<string, string>) =>
    spawnApp({
      main: fileURLToPath(new URL("../../../../dist/apps/gateway/main.js", import.meta.url)),
      env: {
        PORT: "0",
        HOST: "127.0.0.1",
        REDIS_URL: process.env["REDIS_URL"] ?? "redis://127.0.0.1:6379",
        REDIS_PREFIX: `google-start-${randomBytes(4).toString("hex")}`,
        PREFLIGHT: "off",
        AUTH_MODE: "google",
        AUTH_AUDIENCE: "https://images.internal.example",
        AUTH_POLICY_FILE: everyonePolicy,
        ...env,
      },
      ready: "gateway listening",
      timeoutMs: 10_000,
    });
  const warned = (lines: Record<string, unknown>[]) =>
    lines.some((l) => String(l["msg"]).startsWith(WARNING));

  it("refuses to start with neither AUTH_GOOGLE_DOMAINS nor AUTH_GOOGLE_ALLOW_ANY_ACCOUNT, saying why", async () => {
    const failed = await start({}).catch((e: unknown) => e);
    expect(String(failed)).toMatch(/exited with 1/);
    expect(String(failed)).toMatch(
      /AUTH_GOOGLE_DOMAINS: is required with AUTH_MODE=google unless AUTH_GOOGLE_ALLOW_ANY_ACCOUNT=true\. Any Google account in the world can mint an ID token for AUTH_AUDIENCE/,
    );
  });

  it("warns loudly at start when any Google account may call and the policy grants principal * something", async () => {
    const gateway = await start({ AUTH_GOOGLE_ALLOW_ANY_ACCOUNT: "true" });
    try {
      const line = gateway.lines.find((l) => String(l["msg"]).startsWith(WARNING));
      expect(line).toMatchObject({
        level: 40,
        grants: [{ projects: ["my-project"], actions: ["read"] }],
      });
    } finally {
      await gateway.stop();
    }
  });

  it("does not warn when only accounts of hosted domains may call", async () => {
    const gateway = await start({ AUTH_GOOGLE_DOMAINS: "example.com" });
    try {
      expect(warned(gateway.lines)).toBe(false);
    } finally {
      await gateway.stop();
    }
  });
});

describe("limits", () => {
  it("rate-limits CreateImage per principal across gateway replicas, with RetryInfo", async () => {
    const a = await startStack({
      gateway: {
        settings: {
          RATE_LIMIT_CREATE_PER_MINUTE: 6,
          RATE_LIMIT_CREATE_BURST: 3,
          DEFAULT_USER: `limited-${randomBytes(4).toString("hex")}`,
        },
      },
    });
    try {
      for (let i = 0; i < 3; i++) await a.client.createImage(imageRequest(`rl-${i}`));
      const error = await a.client.createImage(imageRequest("rl-over")).catch((e: unknown) => e);
      expect(code(error)).toBe("ResourceExhausted");
      const retry = (error as ConnectError).findDetails(RetryInfoSchema)[0];
      const delayMs =
        Number(retry?.retryDelay?.seconds ?? 0n) * 1000 + (retry?.retryDelay?.nanos ?? 0) / 1e6;
      expect(delayMs).toBeGreaterThan(0);
      expect(delayMs).toBeLessThanOrEqual(10_000);
    } finally {
      await a.close();
    }
  });

  it("shares the budget between two gateways on one Redis", async () => {
    const user = `shared-${randomBytes(4).toString("hex")}`;
    const a = await startStack({
      gateway: {
        settings: {
          RATE_LIMIT_CREATE_PER_MINUTE: 6,
          RATE_LIMIT_CREATE_BURST: 2,
          DEFAULT_USER: user,
        },
      },
    });
    const bGateway = await startGateway({
      settings: testSettings("gateway", {
        PORT: 0,
        HOST: "127.0.0.1",
        REDIS_URL: a.redis.url,
        REDIS_PREFIX: a.prefix,
        DEFAULT_USER: user,
        RATE_LIMIT_CREATE_PER_MINUTE: 6,
        RATE_LIMIT_CREATE_BURST: 2,
      }),
      log: pino({ level: "silent" }),
      metrics: createMetrics("b"),
    });
    try {
      await a.client.createImage(imageRequest("shared-1"));
      const b = createClient(
        ImageService,
        createConnectTransport({ baseUrl: bGateway.url, httpVersion: "2" }),
      );
      await b.createImage(imageRequest("shared-2"));
      expect(code(await b.createImage(imageRequest("shared-3")).catch((e: unknown) => e))).toBe(
        "ResourceExhausted",
      );
      expect(
        code(await a.client.createImage(imageRequest("shared-4")).catch((e: unknown) => e)),
      ).toBe("ResourceExhausted");
    } finally {
      await bGateway.close();
      await a.close();
    }
  });

  it("caps open streams per principal", async () => {
    const stack = await startStack({
      emulator: { operationDurationMs: 60_000 },
      gateway: { settings: { MAX_STREAMS_PER_PRINCIPAL: 2 } },
    });
    try {
      const op = await stack.client.createImage(imageRequest("streams"));
      const controllers = [new AbortController(), new AbortController()];
      const open = controllers.map((c) =>
        drain(
          stack.client.watchOperation(
            { project: "my-project", operation: op.name },
            { signal: c.signal },
          ),
        ).catch((e: unknown) => e),
      );
      for (let i = 0; i < 100 && stack.gateway.bus.stats().watchers < 2; i++)
        await new Promise((r) => setTimeout(r, 20));
      expect(
        code(
          await drain(
            stack.client.watchOperation({ project: "my-project", operation: op.name }),
          ).catch((e: unknown) => e),
        ),
      ).toBe("ResourceExhausted");
      controllers[0]?.abort();
      await open[0];
      for (let i = 0; i < 100 && stack.gateway.bus.stats().watchers > 1; i++)
        await new Promise((r) => setTimeout(r, 20));
      const again = new AbortController();
      const third = drain(
        stack.client.watchOperation(
          { project: "my-project", operation: op.name },
          { signal: again.signal },
        ),
      ).catch((e: unknown) => e);
      for (let i = 0; i < 100 && stack.gateway.bus.stats().watchers < 2; i++)
        await new Promise((r) => setTimeout(r, 20));
      expect(stack.gateway.bus.stats().watchers).toBe(2);
      again.abort();
      controllers[1]?.abort();
      await Promise.all([third, open[1]]);
    } finally {
      await stack.close();
    }
  });
});

describe("SIGHUP", () => {
  it("reloads the tokens file in a running gateway", async () => {
    const redisUrl = "redis://127.0.0.1:6379";
    const file = writeJson("reload-tokens.json", {
      tokens: [{ principal: "ci@builds", sha256: sha256(CI) }],
    });
    const port = await freePort();
    const gateway = await spawnApp({
      main: fileURLToPath(new URL("../../../../dist/apps/gateway/main.js", import.meta.url)),
      env: {
        PORT: String(port),
        HOST: "127.0.0.1",
        REDIS_URL: process.env["REDIS_URL"] ?? redisUrl,
        REDIS_PREFIX: `sighup-${randomBytes(4).toString("hex")}`,
        AUTH_MODE: "tokens",
        PREFLIGHT: "off",
        AUTH_TOKENS_FILE: file,
        AUTH_POLICY_FILE: policyFile,
      },
      ready: "gateway listening",
    });
    const as = (token: string) =>
      serviceClient(`http://127.0.0.1:${port}`, { authorization: `Bearer ${token}` });
    try {
      const probe = {
        project: "my-project",
        operation: "operation-1-0123456789abcdef0123456789abcdef",
      };
      const devCode = async () =>
        code(
          await as(DEV)
            .getOperation(probe)
            .catch((e: unknown) => e),
        );
      expect(await devCode()).toBe("Unauthenticated");
      writeFileSync(
        file,
        JSON.stringify({
          tokens: [
            { principal: "ci@builds", sha256: sha256(CI) },
            { principal: "dev@team", token: DEV },
          ],
        }),
      );
      /** Sends SIGHUP and waits for the gateway to log `msg`. */
      const reload = async (msg: string) => {
        gateway.child.kill("SIGHUP");
        await expect.poll(() => gateway.lines.some((l) => l["msg"] === msg)).toBe(true);
      };
      await reload("reloaded the tokens file");
      expect(await devCode()).toBe("NotFound"); // authenticated now
      writeFileSync(file, "{ broken");
      await reload("the tokens file is not valid; keeping the previous tokens");
      expect(await devCode()).toBe("NotFound");
    } finally {
      await gateway.stop();
    }
  });
});
