import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, expectTypeOf, it } from "vitest";
import { ConfigError } from "./errors";
import { resolveSettings } from "./resolve-settings";
import { defaultFor, type AppName, type Setting } from "./setting";
import { SETTINGS } from "./settings";
import { settingsTable, TABLE_END, TABLE_START } from "./settings-table";

const README = fileURLToPath(new URL("../../../README.md", import.meta.url));
const gateway = { AUTH_MODE: "none", PREFLIGHT: "off" };
const worker = { COMPUTE_ENDPOINT: "http://127.0.0.1:8085" };

function refusal(run: () => unknown): ConfigError {
  try {
    run();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("no ConfigError");
}

describe("resolveSettings", () => {
  it("fills each app's defaults, per app where they differ", () => {
    const g = resolveSettings("gateway", gateway);
    expect(g.PORT).toBe(8080);
    expect(g.REDIS_PREFIX).toBe("imagesvc");
    expect(g.RECORD_RETENTION_MS).toBe(7 * 24 * 3600_000);
    expect(g.WEBHOOK_ALLOWED_HOSTS).toEqual([]);
    expect(g.TLS_CERT_FILE).toBeUndefined();
    expect(resolveSettings("compute-emulator", {}).PORT).toBe(8085);
    expect(resolveSettings("worker", worker).SHUTDOWN_TIMEOUT_MS).toBe(25_000);
    expectTypeOf(g.PORT).toEqualTypeOf<number>();
    expectTypeOf(g.AUTH_MODE).toEqualTypeOf<"tokens" | "google" | "none" | undefined>();
    expectTypeOf(g.WEBHOOK_ALLOWED_HOSTS).toEqualTypeOf<readonly string[]>();
  });

  it("reads an app's own settings only", () => {
    const w = resolveSettings("worker", worker);
    expect("PORT" in w).toBe(false);
    expect(w.WORKER_CONCURRENCY).toBe(50);
  });

  it.each([
    ["PORT", "70000", /PORT: "70000" is not a whole number between 0 and 65535/],
    ["AUTH_GOOGLE_ALLOW_ANY_ACCOUNT", "maybe", /is not a boolean; use true or false/],
    ["AUTH_MODE", "open", /AUTH_MODE: "open" is not one of tokens, google, none/],
    ["STORAGE_ENDPOINT", "not a url", /STORAGE_ENDPOINT: "not a url" is not a URL/],
  ])("refuses %s=%j, naming it and what would do", (name, value, message) => {
    const e = refusal(() => resolveSettings("gateway", { ...gateway, [name]: value }));
    expect(e.variable).toBe(name);
    expect(e.message).toMatch(message);
  });

  it.each([
    ["gateway", {}, "AUTH_MODE", /is required: tokens/],
    ["gateway", { AUTH_MODE: "tokens", PREFLIGHT: "off" }, "AUTH_TOKENS_FILE", /AUTH_MODE=tokens/],
    [
      "gateway",
      { AUTH_MODE: "google", AUTH_AUDIENCE: "a", PREFLIGHT: "off" },
      "AUTH_POLICY_FILE",
      /is required with AUTH_MODE=google/,
    ],
    ["gateway", { ...gateway, TLS_CERT_FILE: "c.pem" }, "TLS_KEY_FILE", /set both/],
    ["gateway", { AUTH_MODE: "none" }, "PREFLIGHT", /no Google credentials/],
    ["worker", {}, "COMPUTE_ENDPOINT", /no Google credentials are configured/],
    [
      "worker",
      { ...worker, INSERT_SETTLE_MS: "1000", NOT_FOUND_GRACE_MS: "2000" },
      "INSERT_SETTLE_MS",
      /shorter than NOT_FOUND_GRACE_MS/,
    ],
    [
      "worker",
      { ...worker, WAIT_RETRY_INITIAL_MS: "500", WAIT_RETRY_MAX_MS: "100" },
      "WAIT_RETRY_MAX_MS",
      /below WAIT_RETRY_INITIAL_MS/,
    ],
  ] as const)("refuses a contradiction of %s's settings: %o", (app, env, variable, message) => {
    const e = refusal(() => resolveSettings(app, env));
    expect(e.variable).toBe(variable);
    expect(e.message).toMatch(message);
  });
});

describe("the settings table", () => {
  it("gives every app that reads a per-app default its own", () => {
    for (const [name, s] of Object.entries(SETTINGS) as [string, Setting][]) {
      if (typeof s.default !== "object" || s.default === null || Array.isArray(s.default)) continue;
      for (const app of s.apps as AppName[])
        expect(defaultFor(s, app), `${name} for ${app}`).toBeDefined();
    }
  });

  it("is the README's configuration table (UPDATE_SETTINGS_TABLE=1 rewrites it)", () => {
    const readme = readFileSync(README, "utf8");
    const start = readme.indexOf(TABLE_START);
    const end = readme.indexOf(TABLE_END);
    expect(start, `README.md needs the markers ${TABLE_START} … ${TABLE_END}`).toBeGreaterThan(0);
    const current = readme.slice(start + TABLE_START.length, end).trim();
    const wanted = settingsTable();
    if (process.env["UPDATE_SETTINGS_TABLE"] === "1" && current !== wanted) {
      writeFileSync(
        README,
        `${readme.slice(0, start + TABLE_START.length)}\n\n${wanted}\n\n${readme.slice(end)}`,
      );
      return;
    }
    // Prettier pads the table; compare cell by cell.
    const cells = (table: string) =>
      table
        .split("\n")
        .filter((l) => !/^\|[\s|:-]+\|$/.test(l))
        .map((l) => l.split(/(?<!\\)\|/).map((c) => c.trim()));
    expect(
      cells(current),
      "README.md's settings table differs from libs/config: run `npm run docs:settings`",
    ).toEqual(cells(wanted));
  });
});
