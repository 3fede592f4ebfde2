import { type Env } from "./env-reader";
import { ConfigError } from "./errors";
import type { ResolvedSettings } from "./resolved-settings";
import { RULES } from "./rules";
import { defaultFor, type AppName, type Setting } from "./setting";
import { SETTINGS } from "./settings";

/**
 * Resolves every setting `app` reads from `env`, once, at start: each value checked against its
 * type and range, defaults filled in, then the rules that tie settings together (rules.ts)
 * applied, so a contradiction stops the process before it does anything. Throws a ConfigError
 * naming the variable, what is wrong and what would be valid. Only `apps/<app>/src/main.ts`
 * passes the real `process.env`.
 */
export function resolveSettings<A extends AppName>(app: A, env: Env): ResolvedSettings<A> {
  const resolved: Record<string, unknown> = {};
  for (const [name, setting] of Object.entries(SETTINGS) as [string, Setting][]) {
    if (!setting.apps.includes(app) || setting.type === "external") continue;
    resolved[name] = read(name, setting, env, app);
  }
  const settings = resolved as ResolvedSettings<A>;
  for (const rule of RULES) if (rule.app === app) rule.check(resolved);
  return settings;
}

function read(name: string, setting: Setting, env: Env, app: AppName): unknown {
  const raw = env[name]?.trim();
  const fallback = defaultFor<unknown>(setting, app);
  if (raw === undefined || raw === "") return setting.type === "list" ? (fallback ?? []) : fallback;
  switch (setting.type) {
    case "int": {
      const n = Number(raw);
      const min = setting.min ?? Number.MIN_SAFE_INTEGER;
      const max = setting.max ?? Number.MAX_SAFE_INTEGER;
      if (!Number.isSafeInteger(n) || n < min || n > max)
        throw new ConfigError(
          name,
          `${JSON.stringify(raw)} is not a whole number between ${min} and ${max}`,
        );
      return n;
    }
    case "bool": {
      const v = raw.toLowerCase();
      if (["1", "true", "yes", "on"].includes(v)) return true;
      if (["0", "false", "no", "off"].includes(v)) return false;
      throw new ConfigError(name, `${JSON.stringify(raw)} is not a boolean; use true or false`);
    }
    case "list":
      return raw
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "");
    case "json":
      try {
        return JSON.parse(raw) as unknown;
      } catch (e) {
        throw new ConfigError(name, `is not valid JSON (${(e as Error).message})`);
      }
    case "url":
      try {
        return new URL(raw).toString().replace(/\/$/, "");
      } catch {
        throw new ConfigError(
          name,
          `${JSON.stringify(raw)} is not a URL; use e.g. https://host:port`,
        );
      }
    case "string":
      if (setting.oneOf !== undefined && !setting.oneOf.includes(raw))
        throw new ConfigError(
          name,
          `${JSON.stringify(raw)} is not one of ${setting.oneOf.join(", ")}: ${setting.doc}`,
        );
      return raw;
    case "external":
      return raw;
  }
}
