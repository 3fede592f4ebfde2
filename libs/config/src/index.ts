/**
 * Settings: one declarative table of every variable every app reads (settings.ts), resolved once
 * per app at start with its cross-setting rules (resolveSettings), and the README's table made
 * from it. Errors name the variable and the fix.
 */
export { envReader, type Env, type EnvReader } from "./env-reader";
export { ConfigError } from "./errors";
export { resolveSettings } from "./resolve-settings";
export type { ResolvedSettings } from "./resolved-settings";
export type { AppName, Setting } from "./setting";
export {
  GOOGLE_COMPUTE_ENDPOINT,
  SETTINGS,
  SHARED_SETTINGS,
  sharedSettings,
  type SettingName,
} from "./settings";
export { settingsTable, TABLE_END, TABLE_START } from "./settings-table";
