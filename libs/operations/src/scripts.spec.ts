import { readFileSync, readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import * as generated from "./lua/scripts.generated";
import type { LuaScript } from "./lua/scripts.generated";

const luaDir = new URL("./lua/", import.meta.url);

type Builder = (named: never) => unknown[];
/** Each generated script (`fooScript`) with its positional KEYS and ARGV builders (`fooKeys`, `fooArgs`). */
const scripts = Object.entries(generated as Record<string, unknown>)
  .filter(([name]) => name.endsWith("Script"))
  .map(([name, script]) => {
    const base = name.slice(0, -"Script".length);
    const builder = (suffix: string) =>
      (generated as Record<string, unknown>)[base + suffix] as Builder;
    return [script as LuaScript, builder("Keys"), builder("Args")] as const;
  });

/** The names a script's locals give KEYS or ARGV (`local recordKey = KEYS[1]`), by position. */
const locals = (lua: string, kind: "KEYS" | "ARGV") =>
  [...lua.matchAll(new RegExp(`^local (\\w+) = ${kind}\\[(\\d+)\\]$`, "gm"))].map(
    ([, name, index]) => ({ name: name ?? "", index: Number(index) }),
  );

describe("the Lua scripts", () => {
  it("run as committed: the generated module holds every .lua file, verbatim (else npm run lua:gen)", () => {
    const files = readdirSync(luaDir).filter((f) => f.endsWith(".lua"));
    expect(scripts.map(([script]) => script.file).sort()).toEqual(files.sort());
    for (const [script] of scripts)
      expect(script.lua).toBe(readFileSync(new URL(script.file, luaDir), "utf8"));
  });

  it("get KEYS and ARGV in the positions the script's named locals read them from", () => {
    for (const [script, keysOf, argsOf] of scripts) {
      const keys = locals(script.lua, "KEYS");
      const args = locals(script.lua, "ARGV");
      expect(keys.length).toBe(script.numberOfKeys);
      // Every value is its own name: each must land at the index its local reads.
      const byName = (named: { name: string }[]) =>
        Object.fromEntries(named.map(({ name }) => [name, name])) as never;
      for (const [named, positional] of [
        [keys, keysOf(byName(keys))],
        [args, argsOf(byName(args))],
      ] as const) {
        expect(positional).toHaveLength(named.length);
        for (const { name, index } of named) expect(positional[index - 1]).toBe(name);
      }
    }
  });
});
