import { ReplyError } from "ioredis";
import { describe, expect, it } from "vitest";
import { writeRefusal } from "./errors";

const RedisReplyError = ReplyError as new (message: string) => Error;
const reply = (message: string, extra: Record<string, unknown> = {}): Error =>
  Object.assign(new RedisReplyError(message), extra);

describe("writeRefusal", () => {
  it.each([
    ["OOM command not allowed when used memory > 'maxmemory'.", "OOM"],
    [
      "OOM command not allowed when used memory > 'maxmemory'. script: 219bb33e, on @user_script:1.",
      "OOM",
    ],
    ["READONLY You can't write against a read only replica.", "READONLY"],
    [
      "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk.",
      "MISCONF",
    ],
    ["ERR wrong number of arguments for 'set' command", undefined],
    ["WRONGTYPE Operation against a key holding the wrong kind of value", undefined],
  ])("reads the reply code of %j", (message, expected) => {
    expect(writeRefusal(reply(message))).toBe(expected);
  });

  it("finds the refusal behind a MULTI that Redis discarded", () => {
    const aborted = reply("EXECABORT Transaction discarded because of previous errors.", {
      previousErrors: [reply("OOM command not allowed when used memory > 'maxmemory'.")],
    });
    expect(writeRefusal(aborted)).toBe("OOM");
    expect(writeRefusal(reply("EXECABORT Transaction discarded."))).toBeUndefined();
  });

  it("ignores what is not a Redis reply, whatever its text says", () => {
    expect(writeRefusal(new Error("OOM command not allowed"))).toBeUndefined();
    expect(writeRefusal("OOM")).toBeUndefined();
  });
});
