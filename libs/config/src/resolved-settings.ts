import type { AppName, ValueOf } from "./setting";
import type { SettingName, Settings } from "./settings";

/**
 * The settings `A` reads, each as its value: its default when unset, `undefined` for an unset
 * optional one, `[]` for an unset list. Keyed by the variable's name, so code that uses a setting
 * reads as the README's table does.
 */
export type ResolvedSettings<A extends AppName> = {
  readonly [
    K in SettingName as A extends Settings[K]["apps"][number]
      ? Settings[K]["type"] extends "external"
        ? never
        : K
      : never
  ]: Settings[K] extends { readonly default: unknown }
    ? ValueOf<Settings[K]>
    : Settings[K]["type"] extends "list"
      ? readonly string[]
      : ValueOf<Settings[K]> | undefined;
};
