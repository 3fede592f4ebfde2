import { defaultFor, type AppName, type Setting } from "./setting";
import { SETTINGS } from "./settings";

/** The markers around the README's configuration table, which is generated from SETTINGS. */
export const TABLE_START = "<!-- settings table: generated from libs/config/src/settings.ts -->";
export const TABLE_END = "<!-- end of settings table -->";

/**
 * The README's configuration table as Markdown: one row per setting, in the table's order, with
 * the apps that read it, its default (per app where they differ) and its doc. The spec beside
 * this file holds the README to it.
 */
export function settingsTable(): string {
  const rows = (Object.entries(SETTINGS) as [string, Setting][]).map(
    ([name, s]) => `| \`${name}\` | ${s.apps.join(", ")} | ${shownDefault(s)} | ${s.doc} |`,
  );
  return ["| variable | read by | default | meaning |", "| --- | --- | --- | --- |", ...rows].join(
    "\n",
  );
}

function shownDefault(s: Setting): string {
  if (s.shown !== undefined) return s.shown;
  const values = s.apps
    .map((app: AppName) => defaultFor<unknown>(s, app))
    .filter((v) => v !== undefined)
    .map(format);
  const distinct = [...new Set(values)];
  if (distinct.length === 0) return "—";
  return distinct.length === 1 ? (distinct[0] ?? "—") : values.join(", ");
}

function format(value: unknown): string {
  if (typeof value === "string") return value === "" ? '`""`' : value;
  if (Array.isArray(value)) return value.length === 0 ? "none" : value.join(", ");
  return String(value);
}
