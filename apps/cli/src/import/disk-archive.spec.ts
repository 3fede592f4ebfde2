import { describe, expect, it } from "vitest";
import { ImportError, run } from "./disk-archive";

describe("run with its output to a consumer", () => {
  it("tells the consumer's failure (a full disk), not the tool's broken pipe, and stops the tool", async () => {
    const failing = run("yes", [], new AbortController().signal, undefined, async (out) => {
      for await (const chunk of out) if (chunk) throw new Error("ENOSPC: no space left on device");
    });
    await expect(failing).rejects.toThrow(/ENOSPC/);
  });

  it("tells the tool's failure when the tool fails first, and its output simply ends", async () => {
    let read = 0;
    const failing = run(
      "sh",
      ["-c", "printf 'part'; echo 'tar: disk.raw: Cannot open' >&2; exit 2"],
      new AbortController().signal,
      undefined,
      async (out) => {
        for await (const chunk of out) read += (chunk as Buffer).length;
      },
    );
    await expect(failing).rejects.toThrow(ImportError);
    await expect(failing).rejects.toThrow(/Cannot open/);
    expect(read).toBe(4);
  });
});
