// The RPC edge served in memory (createRouterTransport): what is decided before any storage call.
import { Code, ConnectError } from "@connectrpc/connect";
import type { OperationBus, OperationStore } from "@imagesvc/operations";
import { BadRequestSchema } from "@imagesvc/proto";
import type { ImageQueue } from "@imagesvc/queue";
import { describe, expect, it } from "vitest";
import { inMemoryClient } from "./service.test-helper";

/** Storage that records every touch: these tests assert that nothing reaches it. */
function untouchable(touched: string[]) {
  return new Proxy(
    {},
    {
      get: (_target, prop) => {
        touched.push(String(prop));
        throw new Error(`storage touched: ${String(prop)}`);
      },
    },
  );
}

function client(touched: string[] = []) {
  return inMemoryClient({
    store: untouchable(touched) as OperationStore,
    bus: untouchable(touched) as OperationBus,
    queue: untouchable(touched) as ImageQueue,
  });
}

describe("ImageService edge", () => {
  it("rejects an invalid CreateImage with every violation and touches no storage", async () => {
    const touched: string[] = [];
    const error = await client(touched)
      .createImage({ project: "x", image: { name: "Bad_Name" } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    const fields = (error as ConnectError)
      .findDetails(BadRequestSchema)[0]
      ?.fieldViolations.map((v) => v.field);
    expect(fields).toEqual(["project", "image.name", "image.raw_disk.source"]);
    expect(touched).toEqual([]);
  });

  it("rejects a malformed project or a missing operation before storage", async () => {
    const touched: string[] = [];
    const c = client(touched);
    for (const call of [
      c.getOperation({ project: "x", operation: "" }),
      c.cancelOperation({ project: "Bad", operation: "op" }),
    ]) {
      expect(((await call.catch((e: unknown) => e)) as ConnectError).code).toBe(
        Code.InvalidArgument,
      );
    }
    const list = await c
      .listOperations({ project: "my-project", maxResults: 501, pageToken: "garbage" })
      .catch((e: unknown) => e);
    const fields = (list as ConnectError)
      .findDetails(BadRequestSchema)[0]
      ?.fieldViolations.map((v) => v.field);
    expect(fields).toEqual(["max_results", "page_token"]);
    expect(touched).toEqual([]);
  });

  it("answers NOT_FOUND for a name this service never issues, without a storage call", async () => {
    const touched: string[] = [];
    const error = await client(touched)
      .getOperation({ project: "my-project", operation: "../../etc" })
      .catch((e: unknown) => e);
    expect((error as ConnectError).code).toBe(Code.NotFound);
    expect(touched).toEqual([]);
  });

  it("hides an unexpected failure behind INTERNAL with a generic message", async () => {
    const error = await client()
      .getOperation({
        project: "my-project",
        operation: "operation-1-0123456789abcdef0123456789abcdef",
      })
      .catch((e: unknown) => e);
    expect((error as ConnectError).code).toBe(Code.Internal);
    expect((error as ConnectError).rawMessage).toBe("internal error");
  });
});
