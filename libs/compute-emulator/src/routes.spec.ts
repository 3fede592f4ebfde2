import { describe, expect, it } from "vitest";
import { matchComputeRoute } from "./routes";

describe("matchComputeRoute", () => {
  const root = "/compute/v1/projects/p/global";

  it.each([
    ["POST", "images", "images.insert", undefined],
    ["GET", "images", "images.list", undefined],
    ["GET", "images/web", "images.get", "web"],
    ["DELETE", "images/web", "images.delete", "web"],
    ["GET", "operations", "globalOperations.list", undefined],
    ["GET", "operations/op-1", "globalOperations.get", "op-1"],
    ["POST", "operations/op-1/wait", "globalOperations.wait", "op-1"],
    ["DELETE", "operations/op-1", "globalOperations.delete", "op-1"],
  ])("maps %s …/global/%s to %s", (verb, rest, method, name) => {
    expect(matchComputeRoute(verb, `${root}/${rest}`)).toEqual({ method, project: "p", name });
  });

  it("decodes a percent-encoded project id", () => {
    expect(
      matchComputeRoute("GET", "/compute/v1/projects/example.com%3Aapp/global/images"),
    ).toEqual({ method: "images.list", project: "example.com:app" });
  });

  it.each([
    ["PUT", `${root}/images`],
    ["POST", `${root}/images/web`],
    ["GET", `${root}/images/web/wait`],
    ["GET", `${root}/disks`],
    ["GET", "/compute/beta/projects/p/global/images"],
  ])("does not map %s %s", (method, path) => {
    expect(matchComputeRoute(method, path)).toBeUndefined();
  });
});
