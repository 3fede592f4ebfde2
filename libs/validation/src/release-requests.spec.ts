import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  DeprecateImageRequestSchema,
  SetFamilyPolicyRequestSchema,
  ShareImageRequestSchema,
} from "@imagesvc/proto";
import { describe, expect, it } from "vitest";
import {
  validateDeprecateImageRequest,
  validateSetFamilyPolicyRequest,
  validateShareImageRequest,
} from "./release-requests";

const fields = (v: { field: string }[]) => v.map((x) => x.field);

describe("DeprecateImage", () => {
  const base = { project: "my-project", image: "web-1" };
  it("takes a state, or a schedule, with times in order", () => {
    const ok = create(DeprecateImageRequestSchema, {
      ...base,
      state: "DEPRECATED",
      obsoleteTime: timestampFromMs(2_000_000_000_000),
      deleteTime: timestampFromMs(2_100_000_000_000),
    });
    expect(validateDeprecateImageRequest(ok)).toEqual([]);
    expect(
      fields(validateDeprecateImageRequest(create(DeprecateImageRequestSchema, { ...base }))),
    ).toEqual(["state"]);
    const late = create(DeprecateImageRequestSchema, {
      ...base,
      obsoleteTime: timestampFromMs(2_100_000_000_000),
      deleteTime: timestampFromMs(2_000_000_000_000),
    });
    expect(validateDeprecateImageRequest(late)).toEqual([
      expect.objectContaining({
        field: "delete_time",
        description: expect.stringContaining("comes before obsolete_time") as unknown,
      }),
    ]);
  });
  it("refuses a state past a scheduled move, an unknown state, and a replacement that is the image", () => {
    const v = validateDeprecateImageRequest(
      create(DeprecateImageRequestSchema, {
        project: "My_Project",
        image: "web-1",
        replacement: "web-1",
        state: "OBSOLETE",
        deprecateTime: timestampFromMs(2_000_000_000_000),
      }),
    );
    expect(fields(v)).toEqual(["project", "replacement", "deprecate_time"]);
    expect(
      validateDeprecateImageRequest(
        create(DeprecateImageRequestSchema, { ...base, state: "gone" }),
      )[0]?.description,
    ).toMatch(/use one of ACTIVE, DEPRECATED, OBSOLETE, DELETED/);
  });
});

describe("SetFamilyPolicy and ShareImage", () => {
  it("refuses a policy that asks nothing, a zero duration and a bad label key", () => {
    const v = validateSetFamilyPolicyRequest(
      create(SetFamilyPolicyRequestSchema, {
        project: "my-project",
        family: "web",
        policy: { deprecateAfter: { seconds: 0n }, exclusionLabel: "Keep Me" },
      }),
    );
    expect(fields(v)).toEqual(["policy.deprecate_after", "policy.exclusion_label"]);
    expect(
      fields(
        validateSetFamilyPolicyRequest(
          create(SetFamilyPolicyRequestSchema, {
            project: "my-project",
            family: "web",
            policy: {},
          }),
        ),
      ),
    ).toEqual(["policy"]);
  });
  it("names each member that is not an IAM member, and a bad role", () => {
    const v = validateShareImageRequest(
      create(ShareImageRequestSchema, {
        project: "my-project",
        image: "web-1",
        members: ["serviceAccount:a@p.iam.gserviceaccount.com", "ana@example.com", "allUsers"],
        role: "imageUser",
      }),
    );
    expect(fields(v)).toEqual(["members[1]", "members[2]", "role"]);
    expect(v[1]?.description).toContain("would make the image public");
    expect(
      fields(
        validateShareImageRequest(
          create(ShareImageRequestSchema, { project: "my-project", image: "web-1" }),
        ),
      ),
    ).toEqual(["members"]);
  });
});
