import { create } from "@bufbuild/protobuf";
import { NotificationSchema, Operation_Status } from "@imagesvc/proto";
import { describe, expect, it } from "vitest";
import { validateNotification } from "./notification";

const check = (url: string, on: Operation_Status[] = []) =>
  validateNotification(create(NotificationSchema, { url, on }));

describe("validateNotification", () => {
  it("accepts an https URL, announcing DONE by default, or RUNNING and DONE", () => {
    expect(check("https://ci.example.com/hooks/images")).toEqual([]);
    expect(
      check("https://ci.example.com/h", [Operation_Status.RUNNING, Operation_Status.DONE]),
    ).toEqual([]);
  });

  it.each([
    ["", /is required with a notification/],
    ["ci.example.com/hooks", /is not a URL/],
    ["ftp://ci.example.com/x", /uses ftp; use an https:\/\/ URL/],
    ["https://user:pw@ci.example.com/x", /carries credentials/],
    ["https://ci.example.com/x#frag", /has a #fragment/],
    [`https://ci.example.com/${"a".repeat(2100)}`, /at most 2048 are accepted/],
  ])("refuses %j, naming notification.url and the fix", (url, message) => {
    const [violation, ...rest] = check(url);
    expect(rest).toEqual([]);
    expect(violation?.field).toBe("notification.url");
    expect(violation?.description).toMatch(message);
  });

  it("refuses statuses it does not announce, and repeats", () => {
    expect(
      check("https://ci.example.com/h", [
        Operation_Status.PENDING,
        Operation_Status.DONE,
        Operation_Status.DONE,
      ]),
    ).toEqual([
      { field: "notification.on[0]", description: "PENDING is not announced; use RUNNING or DONE" },
      { field: "notification.on[2]", description: "repeats DONE" },
    ]);
  });
});
