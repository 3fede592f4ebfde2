import { ConfigError } from "@imagesvc/config";
import type { RedisClient } from "./client";

/** Where a deployment records the settings its gateways and workers must share. */
export const deploymentSettingsKey = (prefix: string) => `${prefix}:settings`;

/** What the recording holds: the values, and who recorded them when (for the error message). */
interface Recorded {
  readonly values: Readonly<Record<string, number>>;
  readonly by: string;
  readonly at: string;
}

export interface AgreeOptions {
  /** The values this process runs with, by setting name. */
  readonly values: Readonly<Record<string, number>>;
  /** `check` refuses to start on a difference; `replace` records these values as the deployment's. */
  readonly mode: "check" | "replace";
  /** Who this process is, for the record: "gateway 1234". */
  readonly by: string;
}

/**
 * Holds one deployment's gateways and workers to the same shared settings (the record
 * retention, the job and webhook attempts and backoff): the first process records its values at
 * `key`, and every later one compares. A difference stops the process with a ConfigError naming
 * the setting, both values and the way out, since processes that disagree keep records for
 * different times and retry the same jobs differently. A rollout that changes one sets
 * `DEPLOYMENT_SETTINGS=replace` on its new processes: each records its values as it starts.
 * Settings missing from the record (added by a newer release) are added to it.
 */
export async function agreeDeploymentSettings(
  client: RedisClient,
  key: string,
  options: AgreeOptions,
): Promise<void> {
  const mine: Recorded = { values: options.values, by: options.by, at: new Date().toISOString() };
  if (options.mode === "replace") {
    await client.set(key, JSON.stringify(mine));
    return;
  }
  await client.set(key, JSON.stringify(mine), "NX");
  const recorded = parse(await client.get(key), key);
  const missing: Record<string, number> = {};
  for (const [name, value] of Object.entries(options.values)) {
    const theirs = recorded.values[name];
    if (theirs === undefined) missing[name] = value;
    else if (theirs !== value)
      throw new ConfigError(
        name,
        `is ${value} here, but ${theirs} in this deployment (recorded at ${key} by ${recorded.by} at ${recorded.at}). ` +
          `Set ${name}=${theirs}; or, to change it, roll every gateway and worker with the new value and DEPLOYMENT_SETTINGS=replace`,
      );
  }
  if (Object.keys(missing).length > 0)
    await client.set(
      key,
      JSON.stringify({ ...recorded, values: { ...recorded.values, ...missing } }),
    );
}

function parse(json: string | null, key: string): Recorded {
  try {
    const value = JSON.parse(json ?? "") as { values?: unknown; by?: string; at?: string } | null;
    if (typeof value?.values === "object" && value.values !== null)
      return {
        values: value.values as Record<string, number>,
        by: value.by ?? "?",
        at: value.at ?? "?",
      };
  } catch {
    // Not ours: said below.
  }
  throw new ConfigError(
    "DEPLOYMENT_SETTINGS",
    `the deployment's shared settings at ${key} cannot be read; start one process with DEPLOYMENT_SETTINGS=replace, or delete ${key}`,
  );
}
