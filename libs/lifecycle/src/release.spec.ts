// The release plans that are not promotions or rollbacks: a deprecation (with its schedule, or
// as a scheduled step), a retention pass, a share, and the versions callers see.
import { create } from "@bufbuild/protobuf";
import { Operation_Status, OperationSchema } from "@imagesvc/proto";
import { describe, expect, it } from "vitest";
import {
  decideRelease,
  planOf,
  retentionMoves,
  type FamilyImage,
  type RetentionPolicy,
} from "./release";
import { cancelRelease, releaseVersion } from "./release-operation";
import { decideShare, withMembers } from "./share";

const DAY = 86_400_000;
const NOW = Date.parse("2026-12-04T00:00:00Z");
const image = (name: string, daysOld: number, extra: Partial<FamilyImage> = {}): FamilyImage => ({
  name,
  status: "READY",
  creationTimestamp: new Date(NOW - daysOld * DAY).toISOString(),
  ...extra,
});
const policy = (p: Partial<RetentionPolicy>): RetentionPolicy => ({
  keepNewest: 0,
  deprecateAfterMs: 0,
  deleteAfterMs: 0,
  exclusionLabel: "imagesvc-keep",
  ...p,
});

describe("retention", () => {
  const family = [
    image("web-5", 1),
    image("web-4", 5, { state: "DEPRECATED" }),
    image("web-3", 10, { state: "DEPRECATED", labels: { "imagesvc-keep": "" } }),
    image("web-2", 20, {
      state: "OBSOLETE",
      times: { obsolete: new Date(NOW - 8 * DAY).toISOString() },
    }),
    image("web-1", 30, {
      state: "DEPRECATED",
      times: { deleted: new Date(NOW + DAY).toISOString() },
    }),
  ];

  it("keeps the newest N, never the current image, an excluded one, or one before its end of life", () => {
    expect(retentionMoves(family, policy({ keepNewest: 2 }), NOW)).toEqual([
      // web-3 is excluded and counts for nothing; web-1's own end of life is tomorrow.
      { image: "web-2", to: "removed" },
    ]);
    // The current image is kept even when it is not among the newest (a rollback).
    const rolledBack = [
      image("web-9", 1, { state: "DEPRECATED", replacement: "web-7" }),
      image("web-8", 2, { state: "DEPRECATED", replacement: "web-7" }),
      image("web-7", 3),
    ];
    expect(retentionMoves(rolledBack, policy({ keepNewest: 1 }), NOW)).toEqual([
      { image: "web-8", to: "removed" },
      { image: "web-9", to: "removed" },
    ]);
    // An image newer than the current one, DEPRECATED with no replacement, waits for its
    // promotion (CreateImage's HOLD): never counted, never deleted.
    const held = [image("web-9", 1, { state: "DEPRECATED" }), image("web-7", 3), image("web-6", 4)];
    expect(retentionMoves(held, policy({ keepNewest: 1 }), NOW)).toEqual([
      { image: "web-6", to: "removed" },
    ]);
  });

  it("stamps the date an image is retired, which retention and the next rollback read", () => {
    const plan = planOf(
      { kind: "promote", image: "web-2" },
      "web",
      [
        image("web-1", 3, { times: { deleted: "2030-01-01T00:00:00.000Z" } }),
        image("web-2", 1, { state: "DEPRECATED" }),
      ],
      NOW,
    );
    expect(plan).toMatchObject({
      target: "web-2",
      targetActive: false,
      retire: [
        {
          image: "web-1",
          to: "DEPRECATED",
          replacement: "web-2",
          // Its own end of life stays.
          times: { deleted: "2030-01-01T00:00:00.000Z", deprecated: new Date(NOW).toISOString() },
        },
      ],
    });
  });

  /**
   * web-2 current, having replaced web-1 (on 12-01) and then web-3 (on 12-03); `rolledBack` marks
   * web-3 as an image a rollback retired.
   */
  const replacedTwice = (rolledBack: boolean) => [
    image("web-3", 1, {
      state: "DEPRECATED",
      replacement: "web-2",
      times: { deprecated: "2026-12-03T10:00:00Z" },
      rolledBack,
    }),
    image("web-2", 2),
    image("web-1", 3, {
      state: "DEPRECATED",
      replacement: "web-2",
      times: { deprecated: "2026-12-01T10:00:00Z" },
    }),
  ];

  it("rolls back further, not back again: an image a rollback retired is never the default target", () => {
    expect(
      planOf({ kind: "rollback", family: "web" }, "web", replacedTwice(true), NOW),
    ).toMatchObject({ target: "web-1" });
  });

  it("resumes an interrupted OBSOLETE rollback as the rollback, writing the obsolete date", () => {
    const family = [image("web-2", 1), image("web-1", 2, { state: "DEPRECATED" })];
    const d = decideRelease(
      { kind: "rollback", family: "web", obsolete: true },
      "rid",
      { phase: "reading", failures: 1, round: 1, target: "web-1", checked: true },
      { type: "familyRead", family: "web", images: family, now: NOW },
      { retryDelay: () => 10 },
    );
    expect(d.lifecycle).toMatchObject({
      phase: "activating",
      plan: {
        target: "web-1",
        round: 1,
        retire: [
          { image: "web-2", to: "OBSOLETE", times: { obsolete: new Date(NOW).toISOString() } },
        ],
      },
    });
  });

  it("rolls back to the image the current one replaced, not merely the one created before it", () => {
    // web-2 is current (web-3 is DEPRECATED): it replaced web-3 last.
    expect(
      planOf({ kind: "rollback", family: "web" }, "web", replacedTwice(false), NOW),
    ).toMatchObject({
      target: "web-3",
      retire: [{ image: "web-2", to: "DEPRECATED", replacement: "web-3" }],
    });
  });

  it("deletes an image OBSOLETE long enough, and deprecates an old ACTIVE one in favour of the current", () => {
    expect(retentionMoves(family, policy({ deleteAfterMs: 7 * DAY }), NOW)).toEqual([
      { image: "web-2", to: "removed" },
    ]);
    expect(retentionMoves(family, policy({ deleteAfterMs: 9 * DAY }), NOW)).toEqual([]);
    const two = [image("web-2", 1), image("web-1", 40)];
    // web-2 is current: web-1 is the one that is ACTIVE and old.
    expect(retentionMoves(two, policy({ deprecateAfterMs: 30 * DAY }), NOW)).toEqual([
      {
        image: "web-1",
        to: "DEPRECATED",
        replacement: "web-2",
        times: { deprecated: new Date(NOW).toISOString() },
      },
    ]);
  });

  it("does nothing to a family that resolves to nothing", () => {
    expect(
      retentionMoves(
        [image("web-1", 40, { state: "DEPRECATED" })],
        policy({ keepNewest: 1, deleteAfterMs: 1 }),
        NOW,
      ),
    ).toEqual([]);
  });

  it("plans a pass, or says nothing is due", () => {
    expect(
      planOf(
        { kind: "retain", family: "web", policy: policy({ keepNewest: 2 }) },
        "web",
        family,
        NOW,
      ),
    ).toMatchObject({
      family: "web",
      target: undefined,
      retire: [{ image: "web-2", to: "removed" }],
    });
    expect(
      planOf(
        { kind: "retain", family: "web", policy: policy({ keepNewest: 9 }) },
        "web",
        family,
        NOW,
      ),
    ).toEqual({
      unchanged: "nothing in web is due under its retention policy",
    });
  });
});

describe("deprecation", () => {
  const request = {
    kind: "deprecate",
    image: "web-1",
    state: "DEPRECATED",
    replacement: "web-2",
    times: { obsolete: "2027-01-01T00:00:00.000Z" },
    steps: [{ state: "OBSOLETE", atMs: Date.parse("2027-01-01T00:00:00Z") }],
  } as const;

  it("writes the status with its times, then records the steps to come", () => {
    expect(planOf(request, "web", [image("web-1", 3), image("web-2", 1)])).toEqual({
      family: "web",
      target: undefined,
      targetActive: true,
      retire: [{ image: "web-1", to: "DEPRECATED", replacement: "web-2", times: request.times }],
      schedule: { image: "web-1", steps: request.steps },
    });
    expect(planOf(request, undefined, [])).toMatchObject({ code: "RESOURCE_NOT_FOUND" });
  });

  it("keeps the image's state when none is asked: only its dates and schedule change", () => {
    const keep = {
      ...request,
      state: undefined,
      steps: [
        { state: "OBSOLETE", atMs: NOW + DAY },
        { state: "DEPRECATED", atMs: NOW + 1 },
      ],
    } as const;
    expect(planOf(keep, "web", [image("web-1", 3, { state: "DEPRECATED" })], NOW)).toMatchObject({
      retire: [{ image: "web-1", to: "DEPRECATED" }],
      // DEPRECATED already: only the OBSOLETE step is left to come.
      schedule: { image: "web-1", steps: [{ state: "OBSOLETE" }] },
    });
  });

  it("keeps the image's replacement and dates when no state is asked", () => {
    const keep = {
      ...request,
      state: undefined,
      replacement: "",
      times: { deleted: "2030-01-01T00:00:00.000Z" },
      steps: [],
    } as const;
    expect(
      planOf(
        keep,
        "web",
        [
          image("web-1", 3, {
            state: "DEPRECATED",
            replacement: "web-2",
            times: { deprecated: "2026-12-01T00:00:00Z" },
          }),
        ],
        NOW,
      ),
    ).toMatchObject({
      retire: [
        {
          to: "DEPRECATED",
          replacement: "web-2",
          times: { deprecated: "2026-12-01T00:00:00Z", deleted: "2030-01-01T00:00:00.000Z" },
        },
      ],
    });
  });

  it("plans again, in a new round, when its claim lapsed before it recorded the schedule", () => {
    const plan = planOf(request, "web", [image("web-1", 3)], NOW);
    if (!("retire" in plan)) throw new Error("no plan");
    const d = decideRelease(
      request,
      "rid",
      { phase: "scheduling", plan, failures: 0 },
      { type: "familyBusy", holder: "nobody" },
      { retryDelay: () => 10 },
    );
    expect(d.lifecycle).toMatchObject({ phase: "reading", round: 1 });
    expect(d.effect.kind).toBe("readFamily");
  });

  it("enacts a scheduled step only while its schedule is the image's and the image is not past it", () => {
    const step = { ...request, state: "OBSOLETE", steps: [], scheduledBy: "operation-1" } as const;
    expect(
      planOf(step, "web", [image("web-1", 3, { state: "DEPRECATED", scheduledBy: "operation-1" })]),
    ).toMatchObject({
      retire: [{ image: "web-1", to: "OBSOLETE" }],
    });
    expect(planOf(step, "web", [image("web-1", 3, { scheduledBy: "operation-2" })])).toMatchObject({
      unchanged: expect.stringMatching(/no longer web-1's/) as unknown,
    });
    expect(
      planOf(step, "web", [image("web-1", 3, { state: "DELETED", scheduledBy: "operation-1" })]),
    ).toMatchObject({
      unchanged: "web-1 is DELETED already",
    });
    expect(planOf(step, "web", [])).toMatchObject({ unchanged: "image web-1 is gone" });
  });
});

describe("a promotion's release check", () => {
  const request = {
    kind: "promote",
    image: "web-2",
    check: { url: "https://ci.example.com/c" },
  } as const;
  const reading = { phase: "reading", failures: 0 } as const;
  const policy = { retryDelay: () => 10, maxFailures: 3 };
  it("is asked once: a 2xx lets it read the family, no answer or a 5xx asks again, another 4xx refuses", () => {
    expect(decideRelease(request, "r", reading, { type: "checkDue" }, policy).effect).toEqual({
      kind: "check",
      url: request.check.url,
      delayMs: 0,
    });
    const passed = decideRelease(request, "r", reading, { type: "checked", status: 204 }, policy);
    expect(passed).toMatchObject({ lifecycle: { checked: true }, effect: { kind: "readFamily" } });
    const again = decideRelease(
      request,
      "r",
      reading,
      { type: "checked", status: 0, reason: "timeout" },
      policy,
    );
    expect(again).toMatchObject({
      effect: { kind: "check", delayMs: 10 },
      lifecycle: { failures: 1 },
    });
    expect(
      decideRelease(request, "r", reading, { type: "checked", status: 403 }, policy).lifecycle,
    ).toMatchObject({
      phase: "done",
      outcome: "refused",
      message: expect.stringMatching(
        /^the release check at ci\.example\.com answered HTTP 403: the image was not promoted/,
      ) as unknown,
    });
    // Asked again at most maxFailures times.
    expect(
      decideRelease(
        request,
        "r",
        { ...reading, failures: 2 },
        { type: "checked", status: 503 },
        policy,
      ).lifecycle,
    ).toMatchObject({ phase: "done", outcome: "refused" });
  });
});

describe("share", () => {
  const req = { image: "web-1", members: ["user:b@example.com"], role: "roles/compute.imageUser" };
  const retry = () => 10;

  it("adds members to the role's unconditional binding, keeping every other binding", () => {
    const conditional = {
      role: "roles/compute.imageUser",
      members: ["user:c@example.com"],
      condition: { expression: "x" },
    };
    const policy = {
      etag: "e1",
      bindings: [{ role: "roles/viewer", members: ["user:a@example.com"] }, conditional],
    };
    expect(withMembers(policy, req.role, req.members)).toEqual({
      etag: "e1",
      bindings: [...policy.bindings, { role: req.role, members: ["user:b@example.com"] }],
    });
    expect(
      withMembers(
        { etag: "e", bindings: [{ role: req.role, members: ["user:b@example.com"] }] },
        req.role,
        req.members,
      ),
    ).toBeUndefined();
  });

  it("reads again after a stale etag, and writes under the new one", () => {
    let d = decideShare(req, { phase: "accepted" }, { type: "run" }, retry);
    expect(d.effect.kind).toBe("readPolicy");
    d = decideShare(req, d.lifecycle, { type: "policyRead", policy: { etag: "e1" } }, retry);
    expect(d.effect).toMatchObject({ kind: "writePolicy", policy: { etag: "e1" } });
    const stale = {
      httpStatus: 412,
      reason: "conditionNotMet",
      message: "etag",
      kind: "final" as const,
    };
    d = decideShare(req, d.lifecycle, { type: "failed", error: stale }, retry);
    expect(d.effect.kind).toBe("readPolicy");
    d = decideShare(
      req,
      d.lifecycle,
      {
        type: "policyRead",
        policy: {
          etag: "e2",
          bindings: [{ role: "roles/viewer", members: ["user:x@example.com"] }],
        },
      },
      retry,
    );
    expect(d.effect).toMatchObject({ kind: "writePolicy", policy: { etag: "e2" } });
    d = decideShare(req, d.lifecycle, { type: "applied" }, retry);
    expect(d.lifecycle).toMatchObject({ phase: "done", outcome: "released" });
  });

  it("after a crash mid-write, reads again and writes only what is missing", () => {
    const writing = {
      phase: "writing",
      policy: { etag: "e1" },
      failures: 0,
      conflicts: 0,
    } as const;
    const d = decideShare(req, writing, { type: "run" }, retry);
    expect(d.effect.kind).toBe("readPolicy");
    const after = decideShare(
      req,
      d.lifecycle,
      {
        type: "policyRead",
        policy: { etag: "e2", bindings: [{ role: req.role, members: req.members }] },
      },
      retry,
    );
    expect(after).toMatchObject({
      lifecycle: { phase: "done", outcome: "released" },
      effect: { kind: "none" },
    });
  });
});

describe("release versions", () => {
  const pending = create(OperationSchema, {
    name: "operation-1",
    status: Operation_Status.PENDING,
  });

  it("goes RUNNING on its first step, DONE with Compute's error shape when refused", () => {
    const running = releaseVersion(
      pending,
      "accepted",
      { phase: "reading", failures: 0 },
      undefined,
      new Date(NOW),
    );
    expect(running).toMatchObject({
      status: Operation_Status.RUNNING,
      startTime: new Date(NOW).toISOString(),
    });
    const refused = releaseVersion(
      running ?? pending,
      "reading",
      {
        phase: "done",
        outcome: "refused",
        message: "image web-9 does not exist",
        error: { code: "RESOURCE_NOT_FOUND", httpStatus: 404 },
      },
      undefined,
      new Date(NOW),
    );
    expect(refused).toMatchObject({
      status: Operation_Status.DONE,
      httpErrorStatusCode: 404,
      error: { errors: [{ code: "RESOURCE_NOT_FOUND", message: "image web-9 does not exist" }] },
    });
    // Nothing new to show: no version.
    expect(
      releaseVersion(
        running ?? pending,
        "reading",
        { phase: "reading", failures: 0 },
        undefined,
        new Date(),
      ),
    ).toBeUndefined();
  });

  it("cancels only before the first call", () => {
    const cancelled = cancelRelease(
      { release: { phase: "accepted" } },
      pending,
      "ana",
      new Date(NOW),
    );
    expect(cancelled).toMatchObject({
      state: { release: { phase: "done", outcome: "cancelled" } },
    });
    // Reading the family changes nothing: still cancellable; a planned change is not.
    expect(
      cancelRelease({ release: { phase: "reading", failures: 0 } }, pending, "ana", new Date()),
    ).toMatchObject({ state: { release: { outcome: "cancelled" } } });
    expect(
      cancelRelease(
        { release: { phase: "reading", failures: 1, round: 1, target: "web-2" } },
        pending,
        "ana",
        new Date(),
      ),
    ).toMatchObject({
      refused: expect.stringMatching(/cannot be cancelled once it has/) as unknown,
    });
  });
});
