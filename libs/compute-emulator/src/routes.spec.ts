import { describe, expect, it } from "vitest";
import { matchComputeRoute } from "./routes";

describe("matchComputeRoute", () => {
  it.each([
    ["POST", "/compute/v1/projects/p/global/images", { method: "images.insert", project: "p" }],
    ["GET", "/compute/v1/projects/p/global/images", { method: "images.list", project: "p" }],
    [
      "GET",
      "/compute/v1/projects/p/global/images/web",
      { method: "images.get", project: "p", name: "web" },
    ],
    [
      "DELETE",
      "/compute/v1/projects/p/global/images/web",
      { method: "images.delete", project: "p", name: "web" },
    ],
    [
      "GET",
      "/compute/v1/projects/p/global/operations",
      { method: "globalOperations.list", project: "p" },
    ],
    [
      "GET",
      "/compute/v1/projects/p/global/operations/op-1",
      { method: "globalOperations.get", project: "p", name: "op-1" },
    ],
    [
      "POST",
      "/compute/v1/projects/p/global/operations/op-1/wait",
      { method: "globalOperations.wait", project: "p", name: "op-1" },
    ],
    [
      "DELETE",
      "/compute/v1/projects/p/global/operations/op-1",
      { method: "globalOperations.delete", project: "p", name: "op-1" },
    ],
    [
      "GET",
      "/compute/v1/projects/example.com%3Aapp/global/images",
      { method: "images.list", project: "example.com:app" },
    ],
  ])("maps %s %s", (method, path, route) => {
    expect(matchComputeRoute(method, path)).toEqual(route);
  });

  it.each([
    ["PUT", "/compute/v1/projects/p/global/images"],
    ["POST", "/compute/v1/projects/p/global/images/web"],
    ["GET", "/compute/v1/projects/p/global/images/web/wait"],
    ["GET", "/compute/v1/projects/p/global/disks"],
    ["GET", "/compute/beta/projects/p/global/images"],
  ])("does not map %s %s", (method, path) => {
    expect(matchComputeRoute(method, path)).toBeUndefined();
  });
});
