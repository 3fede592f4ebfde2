import { ConfigError } from "./errors";

/** The environment as `process.env` gives it; only `apps/<app>/src/main.ts` passes the real one. */
export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Typed readers over an environment. Each one returns the default when the variable is unset or
 * empty, and throws a ConfigError when it is set to something unusable: a typo in deployment
 * config should stop the process at start, not surface as odd behaviour later.
 */
export function envReader(env: Env) {
  const raw = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === "" ? undefined : value;
  };
  return {
    string(name: string, fallback: string): string {
      return raw(name) ?? fallback;
    },
    optionalString(name: string): string | undefined {
      return raw(name);
    },
    required(name: string, hint: string): string {
      const value = raw(name);
      if (value === undefined) throw new ConfigError(name, `is required: ${hint}`);
      return value;
    },
    int(name: string, fallback: number, range: { min?: number; max?: number } = {}): number {
      const value = raw(name);
      if (value === undefined) return fallback;
      const n = Number(value);
      const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = range;
      if (!Number.isSafeInteger(n) || n < min || n > max) {
        throw new ConfigError(
          name,
          `${JSON.stringify(value)} is not a whole number between ${min} and ${max}`,
        );
      }
      return n;
    },
    bool(name: string, fallback: boolean): boolean {
      const value = raw(name)?.toLowerCase();
      if (value === undefined) return fallback;
      if (["1", "true", "yes", "on"].includes(value)) return true;
      if (["0", "false", "no", "off"].includes(value)) return false;
      throw new ConfigError(name, `${JSON.stringify(value)} is not a boolean; use true or false`);
    },
    list(name: string): string[] {
      return (raw(name) ?? "")
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "");
    },
    json(name: string): unknown {
      const value = raw(name);
      if (value === undefined) return undefined;
      try {
        return JSON.parse(value) as unknown;
      } catch (e) {
        throw new ConfigError(name, `is not valid JSON (${(e as Error).message})`);
      }
    },
    url(name: string, fallback: string): string {
      const value = raw(name) ?? fallback;
      try {
        return new URL(value).toString().replace(/\/$/, "");
      } catch {
        throw new ConfigError(
          name,
          `${JSON.stringify(value)} is not a URL, e.g. http://127.0.0.1:8080`,
        );
      }
    },
  };
}

export type EnvReader = ReturnType<typeof envReader>;
