// The release lifecycle against a model of Compute's images and the family claim, with crashes
// before and after every call, retryable failures, answers lost after the call took effect, two
// releases of one family at once, and claims that lapse (a worker paused past the claim's
// expiry) so that the other release takes the family midway. After every history: each release
// is DONE; the family has exactly one ACTIVE image, the one the last release to complete chose
// (or is as it was, if every release was refused); and at no point during a release did the
// family stop resolving.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decideRelease,
  planOf,
  requestIdOf,
  type FamilyImage,
  type ReleaseEffect,
  type ReleaseEvent,
  type ReleaseLifecycle,
  type ReleaseRequest,
} from "./release";

const policy = { retryDelay: (n: number) => 10 * 2 ** Math.min(n, 4) };
const FAMILY = "web";

interface ModelImage {
  status: string;
  state?: "DEPRECATED" | "OBSOLETE" | "DELETED";
  replacement?: string;
  readonly creationTimestamp: string;
  readonly family: string | undefined;
}

class Compute {
  readonly images = new Map<string, ModelImage>();
  /** Each requestId's first call, and how many times it came. */
  readonly requests = new Map<
    string,
    { image: string; state: string | undefined; calls: number }
  >();
  holder: string | undefined;

  family(): FamilyImage[] {
    return [...this.images]
      .filter(([, i]) => i.family === FAMILY)
      .map(([name, i]) => ({
        name,
        status: i.status,
        ...(i.state !== undefined && { state: i.state }),
        creationTimestamp: i.creationTimestamp,
      }));
  }

  /** What images.getFromFamily answers: the newest READY ACTIVE image. */
  resolves(): string | undefined {
    return this.family()
      .filter((i) => i.status === "READY" && i.state === undefined)
      .sort((a, b) => (a.creationTimestamp < b.creationTimestamp ? 1 : -1))[0]?.name;
  }

  deprecate(
    effect: Extract<ReleaseEffect, { kind: "deprecate" }>,
  ): "applied" | "repeated" | "notFound" {
    const seen = this.requests.get(effect.requestId);
    if (seen !== undefined) {
      // The same requestId is the same request: Compute changes nothing the second time.
      expect(seen).toMatchObject({ image: effect.image, state: effect.status?.state });
      seen.calls++;
      return "repeated";
    }
    this.requests.set(effect.requestId, {
      image: effect.image,
      state: effect.status?.state,
      calls: 1,
    });
    const image = this.images.get(effect.image);
    if (image === undefined) return "notFound";
    if (effect.status === undefined) {
      delete image.state;
      delete image.replacement;
    } else {
      image.state = effect.status.state;
      image.replacement = effect.status.replacement;
    }
    return "applied";
  }
}

interface Release {
  readonly name: string;
  readonly request: ReleaseRequest;
  lifecycle: ReleaseLifecycle;
  /** The event the next step takes: a run after a crash or at the start. */
  pending: ReleaseEvent;
  /** When it committed DONE. */
  finishedAt?: number;
}

const failure = (httpStatus: number) => ({
  httpStatus,
  reason: httpStatus === 503 ? "backendError" : "notFound",
  message: "m",
  kind: httpStatus === 503 ? ("retryable" as const) : ("final" as const),
});

/** One step of `release`: decide, commit, maybe crash, perform, maybe lose the answer. */
function stepOf(
  compute: Compute,
  release: Release,
  luck: { crashBefore: boolean; fail: boolean; loseAnswer: boolean; lapse: boolean },
  clock: number,
): void {
  // The claim lapses (its holder paused past its expiry): anyone may take the family now.
  if (luck.lapse) compute.holder = undefined;
  let decision = decideRelease(
    release.request,
    release.name,
    release.lifecycle,
    release.pending,
    policy,
  );
  // As the driver does: a DONE that names the family's image is committed under the claim.
  if (
    decision.lifecycle.phase === "done" &&
    decision.lifecycle.outcome === "released" &&
    compute.holder !== release.name
  )
    decision = decideRelease(
      release.request,
      release.name,
      release.lifecycle,
      { type: "familyBusy", holder: compute.holder ?? "nobody" },
      policy,
    );
  release.lifecycle = decision.lifecycle; // committed
  const effect = decision.effect;
  if (effect.kind === "none") return;
  if (effect.kind === "releaseFamily") {
    if (compute.holder === release.name) compute.holder = undefined;
    release.finishedAt = clock;
    return;
  }
  if (luck.crashBefore) {
    release.pending = { type: "run" };
    return;
  }
  if (effect.kind === "readFamily") {
    if (luck.fail) {
      release.pending = { type: "failed", error: failure(503) };
      return;
    }
    if (compute.holder !== undefined && compute.holder !== release.name) {
      release.pending = { type: "familyBusy", holder: compute.holder };
      return;
    }
    compute.holder = release.name;
    const request = release.request;
    const family = request.kind === "promote" ? compute.images.get(request.image)?.family : FAMILY;
    const images =
      request.kind === "promote" && family === undefined
        ? compute.family().filter((i) => i.name === request.image)
        : compute.family();
    release.pending = { type: "familyRead", family, images };
    return;
  }
  // Before each call the driver extends its claim; one that lapsed (whoever holds the family
  // now, if anyone) sends it back to read the family: what it read may be stale.
  if (compute.holder !== release.name) {
    release.pending = { type: "familyBusy", holder: compute.holder ?? "nobody (the claim lapsed)" };
    return;
  }
  if (luck.fail && !luck.loseAnswer) {
    release.pending = { type: "failed", error: failure(503) };
    return;
  }
  if (effect.kind !== "deprecate") throw new Error(`a release made a ${effect.kind} call`);
  const result = compute.deprecate(effect);
  if (luck.loseAnswer) {
    // The call took effect; its answer never came: a 503, or a crash before the next commit.
    release.pending = luck.fail ? { type: "failed", error: failure(503) } : { type: "run" };
    return;
  }
  release.pending =
    result === "notFound" ? { type: "failed", error: failure(404) } : { type: "applied" };
}

const imageArb = fc.record({
  status: fc.constantFrom("READY", "READY", "READY", "PENDING", "FAILED"),
  state: fc.constantFrom(undefined, undefined, "DEPRECATED", "OBSOLETE"),
});
describe("the release lifecycle", () => {
  it("ends every history with one ACTIVE image, the last release's choice, and never leaves the family unresolved", () => {
    fc.assert(
      fc.property(
        fc.array(imageArb, { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 1, max: 2 }),
        fc.infiniteStream(
          fc.record({
            who: fc.nat(1),
            crashBefore: fc.nat(3).map((n) => n === 0),
            fail: fc.nat(3).map((n) => n === 0),
            loseAnswer: fc.nat(3).map((n) => n === 0),
            lapse: fc.nat(9).map((n) => n === 0),
          }),
        ),
        fc.array(fc.constantFrom(0, 1, 2, 3, 4), { minLength: 2, maxLength: 2 }),
        (specs, count, schedule, picks) => {
          const compute = new Compute();
          const names = specs.map((_, i) => `web-${i}`);
          specs.forEach((spec, i) =>
            compute.images.set(`web-${i}`, {
              status: spec.status,
              ...(spec.state !== undefined && { state: spec.state }),
              creationTimestamp: `2026-01-0${i + 1}T00:00:00Z`,
              family: FAMILY,
            }),
          );
          const releases: Release[] = Array.from({ length: count }, (_, k) => ({
            name: `release-${k}`,
            request:
              (picks[k] ?? 0) < 3
                ? { kind: "promote", image: names[(picks[k] ?? 0) % names.length] ?? "web-0" }
                : { kind: "rollback", family: FAMILY, obsolete: (picks[k] ?? 0) === 4 },
            lifecycle: { phase: "accepted" },
            pending: { type: "run" },
          }));
          const resolvedBefore = compute.resolves();
          let clock = 0;
          for (const luck of schedule) {
            const open = releases.filter((r) => r.lifecycle.phase !== "done");
            if (open.length === 0) break;
            clock++;
            if (clock > 2000) throw new Error("a release never ended");
            const release = open[luck.who % open.length];
            if (release === undefined) break;
            const holderBefore = compute.holder;
            stepOf(compute, release, luck, clock);
            // While a release holds the family, it keeps resolving if it did before.
            if (holderBefore !== undefined && resolvedBefore !== undefined)
              expect(compute.resolves()).toBeDefined();
          }
          // Every release is DONE, and the family is free.
          expect(releases.every((r) => r.lifecycle.phase === "done")).toBe(true);
          expect(compute.holder).toBeUndefined();
          const released = releases
            .filter((r) => r.lifecycle.phase === "done" && r.lifecycle.outcome === "released")
            .sort((a, b) => (a.finishedAt ?? 0) - (b.finishedAt ?? 0));
          const last = released.at(-1);
          const active = compute.family().filter((i) => i.state === undefined);
          if (last === undefined) {
            // Refused everywhere: nothing was changed.
            expect(compute.resolves()).toBe(resolvedBefore);
            return;
          }
          const target = last.lifecycle.phase === "done" ? last.lifecycle.target : undefined;
          expect(target).toBeDefined();
          expect(active.map((i) => i.name)).toEqual([target]);
          expect(compute.resolves()).toBe(target);
        },
      ),
      { numRuns: 3000 },
    );
  }, 60_000);

  it("plans a promotion: the target ACTIVE, every other ACTIVE image DEPRECATED; refuses one not READY", () => {
    const family: FamilyImage[] = [
      { name: "a", status: "READY", creationTimestamp: "1" },
      { name: "b", status: "READY", state: "DEPRECATED", creationTimestamp: "2" },
      { name: "c", status: "READY", creationTimestamp: "3" },
      { name: "d", status: "PENDING", creationTimestamp: "4" },
    ];
    expect(planOf({ kind: "promote", image: "b" }, "web", family)).toEqual({
      family: "web",
      target: "b",
      targetActive: false,
      retire: [
        { image: "a", to: "DEPRECATED", replacement: "b" },
        { image: "c", to: "DEPRECATED", replacement: "b" },
        { image: "d", to: "DEPRECATED", replacement: "b" },
      ],
    });
    expect(planOf({ kind: "promote", image: "d" }, "web", family)).toMatchObject({
      refused: expect.stringMatching(/PENDING: only a READY image/) as unknown,
      code: "CONDITION_NOT_MET",
    });
    expect(planOf({ kind: "promote", image: "z" }, undefined, [])).toMatchObject({
      refused: expect.stringMatching(/does not exist/) as unknown,
      code: "RESOURCE_NOT_FOUND",
    });
    // A rollback goes to the newest image before the current one, which becomes OBSOLETE if asked.
    expect(
      planOf({ kind: "rollback", family: "web", obsolete: true }, "web", family),
    ).toMatchObject({
      target: "b",
      retire: [
        { image: "a", to: "OBSOLETE", replacement: "b" },
        { image: "c", to: "OBSOLETE", replacement: "b" },
        { image: "d", to: "OBSOLETE", replacement: "b" },
      ],
    });
  });

  it("gives one requestId per operation, image and move, in a UUID's shape", () => {
    const id = requestIdOf("4b9c…", "web-1", "DEPRECATED");
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(requestIdOf("4b9c…", "web-1", "DEPRECATED")).toBe(id);
    expect(requestIdOf("4b9c…", "web-1", "OBSOLETE")).not.toBe(id);
    expect(requestIdOf("4b9c…", "web-2", "DEPRECATED")).not.toBe(id);
  });
});
