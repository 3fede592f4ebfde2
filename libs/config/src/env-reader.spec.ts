import { describe, expect, it } from "vitest";
import { envReader } from "./env-reader";
import { ConfigError } from "./errors";

describe("envReader", () => {
  it("returns defaults for unset and empty variables", () => {
    const env = envReader({ EMPTY: "  " });
    expect(env.int("EMPTY", 7)).toBe(7);
    expect(env.int("UNSET", 7)).toBe(7);
    expect(env.string("UNSET", "x")).toBe("x");
    expect(env.bool("UNSET", true)).toBe(true);
    expect(env.list("UNSET")).toEqual([]);
    expect(env.json("UNSET")).toBeUndefined();
  });

  it("parses set values", () => {
    const env = envReader({ N: "42", B: "off", L: "a, b,,c", J: '{"a":1}', U: "http://h:1/" });
    expect(env.int("N", 0, { min: 0, max: 100 })).toBe(42);
    expect(env.bool("B", true)).toBe(false);
    expect(env.list("L")).toEqual(["a", "b", "c"]);
    expect(env.json("J")).toEqual({ a: 1 });
    expect(env.url("U", "")).toBe("http://h:1");
  });

  it.each([
    ["int", { V: "4.5" }, /V: "4.5" is not a whole number between 0 and 10/],
    ["int", { V: "11" }, /between 0 and 10/],
    ["bool", { V: "maybe" }, /V: "maybe" is not a boolean; use true or false/],
    ["json", { V: "{" }, /V: is not valid JSON/],
    ["url", { V: "not a url" }, /V: "not a url" is not a URL/],
    ["required", {}, /V: is required: set it to the thing/],
  ] as const)("names the variable when %s is unusable", (kind, vars, message) => {
    const env = envReader(vars);
    const read = {
      int: () => env.int("V", 0, { min: 0, max: 10 }),
      bool: () => env.bool("V", false),
      json: () => env.json("V"),
      url: () => env.url("V", ""),
      required: () => env.required("V", "set it to the thing"),
    }[kind];
    expect(read).toThrow(ConfigError);
    expect(read).toThrow(message);
  });
});
