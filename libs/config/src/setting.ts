/** The programs that read settings. */
export type AppName = "gateway" | "worker" | "compute-emulator" | "cli" | "npm start";

/** A default, the same for every app that reads the setting or one per app. */
type Default<T> = T | { readonly [A in AppName]?: T };

interface Common<T> {
  /** The apps that read it: an app resolves only its own settings. */
  readonly apps: readonly AppName[];
  /** One line for the README: what it does, and what the operator must know. */
  readonly doc: string;
  /** Unset means optional (undefined when not given), unless the app's rules require it. */
  readonly default?: Default<T>;
  /** How the README shows the default, when the value itself says little ("7 days"). */
  readonly shown?: string;
}

export interface IntSetting extends Common<number> {
  readonly type: "int";
  readonly min?: number;
  readonly max?: number;
}
export interface StringSetting extends Common<string> {
  readonly type: "string";
  /** The only values accepted, if the setting is a choice. */
  readonly oneOf?: readonly string[];
}
export interface BoolSetting extends Common<boolean> {
  readonly type: "bool";
}
/** Comma-separated; an unset list is empty. */
export interface ListSetting extends Common<readonly string[]> {
  readonly type: "list";
}
export interface JsonSetting extends Common<unknown> {
  readonly type: "json";
}
/** An absolute URL, without a trailing slash. */
export interface UrlSetting extends Common<string> {
  readonly type: "url";
}
/**
 * A setting another program reads, listed so the README's table is whole: a library's own
 * variable (google-auth-library's GOOGLE_APPLICATION_CREDENTIALS), or a CLI flag's fallback.
 * No app resolves it through this table.
 */
export interface ExternalSetting extends Common<string> {
  readonly type: "external";
}

export type Setting =
  | IntSetting
  | StringSetting
  | BoolSetting
  | ListSetting
  | JsonSetting
  | UrlSetting
  | ExternalSetting;

/** The value a setting resolves to. */
export type ValueOf<S extends Setting> = S extends IntSetting
  ? number
  : S extends StringSetting
    ? S extends { readonly oneOf: readonly (infer U)[] }
      ? U
      : string
    : S extends BoolSetting
      ? boolean
      : S extends ListSetting
        ? readonly string[]
        : S extends JsonSetting
          ? unknown
          : string;

/** The default of `setting` for `app`, if it has one. */
export function defaultFor<T>(setting: Common<T>, app: AppName): T | undefined {
  const d = setting.default;
  if (d === undefined) return undefined;
  if (typeof d === "object" && d !== null && !Array.isArray(d) && isPerApp(d))
    return (d as { readonly [A in AppName]?: T })[app];
  return d as T;
}

const APPS: readonly AppName[] = ["gateway", "worker", "compute-emulator", "cli", "npm start"];

function isPerApp(d: object): boolean {
  const keys = Object.keys(d);
  return keys.length > 0 && keys.every((k) => (APPS as readonly string[]).includes(k));
}
