import { describe, expect, it } from "vitest";
import { ComputeFault } from "./compute-error";
import { applyFilter, applyOrder, page } from "./listing";

const items = ["db", "web", "web-2", "cache"].map((name) => ({
  name,
  status: name === "db" ? "DONE" : "RUNNING",
}));

describe("applyFilter", () => {
  it.each([
    ['name = "web"', ["web"]],
    ["name = web", ["web"]],
    ['name != "web"', ["db", "web-2", "cache"]],
    ['name eq "web.*"', ["web", "web-2"]],
    ["name ne web.*", ["db", "cache"]],
    ["status = DONE", ["db"]],
    ["", ["db", "web", "web-2", "cache"]],
  ])("applies %j", (filter, names) => {
    expect(applyFilter(items, filter).map((i) => i.name)).toEqual(names);
  });

  const images = [
    {
      name: "a",
      family: "web",
      labels: { env: "prod" },
      creationTimestamp: "2026-01-02T00:00:00Z",
    },
    {
      name: "b",
      family: "web",
      deprecated: { state: "DEPRECATED" },
      creationTimestamp: "2026-01-03T00:00:00Z",
    },
    { name: "c", family: "db", labels: { env: "dev" }, creationTimestamp: "2026-01-01T00:00:00Z" },
  ];
  it.each([
    ["family = web AND -deprecated.state:*", ["a"]],
    ["family = web deprecated.state = DEPRECATED", ["b"]],
    ["labels.env = prod OR labels.env = dev", ["a", "c"]],
    ["NOT (family = web)", ["c"]],
    ["labels.env:*", ["a", "c"]],
    ["name = a* OR name = c", ["a", "c"]],
    ['creationTimestamp > "2026-01-01T12:00:00Z"', ["a", "b"]],
    ["deprecated.state != DEPRECATED", ["a", "c"]],
    ["(family = db OR family = web) AND name != b", ["a", "c"]],
    // OR binds tighter than AND, as AIP-160 has it.
    ["family = db AND name = a OR name = c", ["c"]],
    ["family = web name = b OR name = c", ["b"]],
    ["labels:env", ["a", "c"]],
    ["labels.team-name:*", []],
  ])("applies %j to nested fields", (filter, names) => {
    expect(applyFilter(images, filter).map((i) => i.name)).toEqual(names);
  });

  it.each(["family == web", "(family = web", "family = web)", "AND family = web", "= web"])(
    "rejects %j with 400",
    (filter) => {
      expect(() => applyFilter(images, filter)).toThrow(/Invalid list filter expression/);
    },
  );

  it("orders by name or newest first, and refuses any other order", () => {
    expect(applyOrder(images, "creationTimestamp desc").map((i) => i.name)).toEqual([
      "b",
      "a",
      "c",
    ]);
    expect(applyOrder(images, "name").map((i) => i.name)).toEqual(["a", "b", "c"]);
    expect(() => applyOrder(images, "size")).toThrow(/orderBy/);
  });

  it("rejects an expression it cannot read with 400", () => {
    expect(() => applyFilter(items, "name contains web")).toThrow(ComputeFault);
    expect(() => applyFilter(items, "name eq (")).toThrow(/Invalid list filter expression/);
  });
});

describe("page", () => {
  it("pages with an opaque token until the last page", () => {
    const all = Array.from({ length: 5 }, (_, i) => i);
    const first = page(all, "2", null);
    expect(first.items).toEqual([0, 1]);
    const second = page(all, "2", first.nextPageToken ?? null);
    expect(second.items).toEqual([2, 3]);
    const third = page(all, "2", second.nextPageToken ?? null);
    expect(third).toEqual({ items: [4] });
  });

  it("treats 0 and no maxResults as 500, and rejects values outside 0-500", () => {
    const many = Array.from({ length: 600 }, (_, i) => i);
    expect(page(many, "0", null).items).toHaveLength(500);
    expect(page(many, null, null).items).toHaveLength(500);
    expect(() => page(many, "501", null)).toThrow(/Must be in the range \[0, 500\]/);
    expect(() => page(many, "-1", null)).toThrow(ComputeFault);
  });
});
