import { create } from "@bufbuild/protobuf";
import { OperationSchema } from "@imagesvc/proto";
import { describe, expect, it } from "vitest";
import { WatcherQueue } from "./watcher-queue";

const v = (version: number) => create(OperationSchema, { version });

describe("WatcherQueue", () => {
  it("hands out versions in order and ignores anything not newer", async () => {
    const q = new WatcherQueue(new AbortController().signal);
    for (const n of [1, 3, 2, 3, 4]) q.offer(v(n));
    expect([(await q.next()).version, (await q.next()).version, (await q.next()).version]).toEqual([
      1, 3, 4,
    ]);
  });

  it("keeps only the newest versions for a watcher that does not read", () => {
    const q = new WatcherQueue(new AbortController().signal, 4);
    for (let n = 1; n <= 100; n++) q.offer(v(n));
    expect(q.size).toBe(4);
  });

  it("wakes a waiting reader, and rejects it when the signal aborts", async () => {
    const controller = new AbortController();
    const q = new WatcherQueue(controller.signal);
    const waiting = q.next();
    q.offer(v(7));
    expect((await waiting).version).toBe(7);
    const blocked = q.next();
    controller.abort(new Error("gone"));
    await expect(blocked).rejects.toThrow("gone");
    await expect(q.next()).rejects.toThrow("gone");
  });

  it("holds one abort listener for its whole life, and none after dispose", async () => {
    const controller = new AbortController();
    const added: string[] = [];
    const removed: string[] = [];
    const signal = controller.signal;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = (type: string, ...rest: [never, never]) => {
      added.push(type);
      add(type, ...rest);
    };
    signal.removeEventListener = (type: string, ...rest: [never, never]) => {
      removed.push(type);
      remove(type, ...rest);
    };
    const q = new WatcherQueue(signal);
    for (let n = 1; n <= 100; n++) {
      const next = q.next();
      q.offer(v(n));
      await next;
    }
    expect(added).toEqual(["abort"]);
    q.dispose();
    expect(removed).toEqual(["abort"]);
  });

  it("ends with a failure after handing out what it holds, and wakes a waiting reader with it", async () => {
    const q = new WatcherQueue(new AbortController().signal);
    q.offer(v(1));
    q.fail(new Error("record expired"));
    expect((await q.next()).version).toBe(1);
    await expect(q.next()).rejects.toThrow("record expired");
    const r = new WatcherQueue(new AbortController().signal);
    const waiting = r.next();
    r.fail(new Error("gone"));
    await expect(waiting).rejects.toThrow("gone");
  });
});
