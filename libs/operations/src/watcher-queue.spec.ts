import { create } from "@bufbuild/protobuf";
import { OperationSchema } from "@imagesvc/proto";
import { describe, expect, it } from "vitest";
import { WatcherQueue } from "./watcher-queue";

const v = (version: number) => create(OperationSchema, { version });

describe("WatcherQueue", () => {
  it("hands out versions in order and ignores anything not newer", async () => {
    const q = new WatcherQueue();
    for (const n of [1, 3, 2, 3, 4]) q.offer(v(n));
    const signal = new AbortController().signal;
    expect([
      (await q.next(signal)).version,
      (await q.next(signal)).version,
      (await q.next(signal)).version,
    ]).toEqual([1, 3, 4]);
  });

  it("keeps only the newest versions for a watcher that does not read", () => {
    const q = new WatcherQueue(4);
    for (let n = 1; n <= 100; n++) q.offer(v(n));
    expect(q.size).toBe(4);
  });

  it("wakes a waiting reader, and rejects it when the signal aborts", async () => {
    const q = new WatcherQueue();
    const controller = new AbortController();
    const waiting = q.next(controller.signal);
    q.offer(v(7));
    expect((await waiting).version).toBe(7);
    const blocked = q.next(controller.signal);
    controller.abort(new Error("gone"));
    await expect(blocked).rejects.toThrow("gone");
  });
});
