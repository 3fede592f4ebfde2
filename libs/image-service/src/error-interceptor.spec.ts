import { describe, expect, it } from "vitest";
import { isRedisUnavailable } from "./error-interceptor";

describe("isRedisUnavailable", () => {
  it.each([
    [
      Object.assign(new Error("Reached the max retries per request limit (which is 1)."), {
        name: "MaxRetriesPerRequestError",
      }),
      true,
    ],
    [new Error("Connection is closed."), true],
    [new Error("Command timed out"), true],
    [new Error("connect ECONNREFUSED 127.0.0.1:6379"), true],
    [new Error("Stream isn't writeable and enableOfflineQueue options is false"), true],
    [new Error("WRONGTYPE Operation against a key holding the wrong kind of value"), false],
    [new TypeError("x is undefined"), false],
    ["a string", false],
  ])("classifies %s", (error, expected) => {
    expect(isRedisUnavailable(error)).toBe(expected);
  });
});
