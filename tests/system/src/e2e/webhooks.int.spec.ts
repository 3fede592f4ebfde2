// Webhooks end to end: a local receiver verifies each delivery's Standard Webhooks signature with
// the `standardwebhooks` package; deliveries are retried on 500 and on a dropped connection,
// survive a worker's kill -9, and are refused for a host off the allowlist.
import { Code, ConnectError } from "@connectrpc/connect";
import { toJsonString } from "@bufbuild/protobuf";
import { Operation_Status, OperationHistorySchema, ReleaseMode } from "@imagesvc/proto";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Webhook } from "standardwebhooks";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createFamily, serviceClient, startStack, type Stack } from "./stack.test-helper";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
const dir = mkdtempSync(join(tmpdir(), "webhooks-"));
const secretFile = join(dir, "secret");
writeFileSync(secretFile, `${SECRET}\n`);

interface Delivery {
  readonly id: string;
  readonly type: string;
  readonly status: string;
  readonly name: string;
  readonly verified: boolean;
}

/** A receiver: answers each POST as `plan` says for it (by attempt), and records what it got. */
class Receiver {
  readonly attempts: Delivery[] = [];
  plan: (attempt: number) => "ok" | 500 | 503 | 403 | "drop" = () => "ok";
  private readonly server: Server;
  constructor() {
    const verifier = new Webhook(SECRET);
    this.server = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        let verified = true;
        try {
          verifier.verify(body, req.headers as Record<string, string>);
        } catch {
          verified = false;
        }
        const parsed = JSON.parse(body) as { type: string; data: { status: string; name: string } };
        this.attempts.push({
          id: String(req.headers["webhook-id"]),
          type: parsed.type,
          status: parsed.data.status,
          name: parsed.data.name,
          verified,
        });
        const answer = this.plan(this.attempts.length);
        if (answer === "drop") req.socket.destroy();
        else res.writeHead(answer === "ok" ? 204 : answer).end();
      });
    });
  }
  async listen(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    return `http://127.0.0.1:${String((this.server.address() as AddressInfo).port)}/hooks`;
  }
  /** Deliveries as a receiver that dedupes by webhook-id sees them. */
  deduped(): Delivery[] {
    const seen = new Map<string, Delivery>();
    for (const a of this.attempts) if (!seen.has(a.id)) seen.set(a.id, a);
    return [...seen.values()];
  }
  close() {
    this.server.closeAllConnections();
    this.server.close();
  }
}

let stack: Stack;
let receiver: Receiver;
let url: string;
const WORKER_ENV = {
  WEBHOOK_SECRET_FILE: secretFile,
  WEBHOOK_ALLOW_LOCAL_HTTP: "true",
  WEBHOOK_BACKOFF_MS: "100",
  WEBHOOK_ATTEMPTS: "6",
  JOB_LOCK_MS: "1000",
};

beforeAll(async () => {
  stack = await startStack({
    emulator: { operationDurationMs: 1500 },
    gateway: {
      settings: { WEBHOOK_ALLOWED_HOSTS: ["hooks.example.com"], WEBHOOK_ALLOW_LOCAL_HTTP: true },
    },
  });
});
afterAll(async () => {
  await stack.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  receiver = new Receiver();
  url = await receiver.listen();
});
afterEach(() => {
  receiver.close();
});

async function until(check: () => boolean, what: string, ms = 20_000) {
  for (const deadline = Date.now() + ms; !check();) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const create = (name: string, on = [Operation_Status.DONE], client = stack.client) =>
  client.createImage({
    project: "my-project",
    image: { name, sourceImage: "projects/debian-cloud/global/images/family/debian-12" },
    notification: { url, on },
  });

describe("webhooks", () => {
  it("signs each delivery, announces RUNNING and DONE, and sends DONE once", async () => {
    const worker = await stack.startWorker(WORKER_ENV);
    try {
      const op = await create("hooked-1", [Operation_Status.RUNNING, Operation_Status.DONE]);
      await until(() => receiver.attempts.some((a) => a.status === "DONE"), "DONE");
      await new Promise((r) => setTimeout(r, 500)); // nothing more comes
      expect(receiver.attempts.every((a) => a.verified)).toBe(true);
      expect(receiver.attempts.map((a) => [a.id, a.type])).toEqual([
        [`${op.name}:RUNNING`, "operation.running"],
        [`${op.name}:DONE`, "operation.done"],
      ]);
      expect(receiver.attempts.at(-1)).toMatchObject({ name: op.name, status: "DONE" });
      // The history shows the webhook asked for, without its query (hooks carry tokens there).
      const tokened = await stack.client.createImage({
        project: "my-project",
        image: {
          name: "hooked-token",
          sourceImage: "projects/debian-cloud/global/images/family/debian-12",
        },
        notification: { url: `${url}?token=s3cret`, on: [Operation_Status.DONE] },
      });
      const history = await stack.client.getOperationHistory({
        project: "my-project",
        operation: tokened.name,
      });
      expect(history.request?.notification?.url).toBe(
        `${new URL(url).origin}${new URL(url).pathname}?…`,
      );
      expect(toJsonString(OperationHistorySchema, history)).not.toContain("s3cret");
    } finally {
      await worker.stop();
    }
  });

  it("announces a release's RUNNING and DONE, signed, once each, as CreateImage's", async () => {
    const worker = await stack.startWorker(WORKER_ENV);
    try {
      await createFamily(stack.client, "hooked-rel", ["hooked-rel-1", "hooked-rel-2"]);
      const promoted = await stack.client.promoteImage({
        project: "my-project",
        image: "hooked-rel-1",
        notification: { url, on: [Operation_Status.RUNNING, Operation_Status.DONE] },
      });
      await until(
        () => receiver.attempts.some((a) => a.name === promoted.name && a.status === "DONE"),
        "DONE",
      );
      await new Promise((r) => setTimeout(r, 500)); // nothing more comes
      const mine = receiver.attempts.filter((a) => a.name === promoted.name);
      expect(mine.every((a) => a.verified)).toBe(true);
      expect(mine.map((a) => [a.id, a.type])).toEqual([
        [`${promoted.name}:RUNNING`, "operation.running"],
        [`${promoted.name}:DONE`, "operation.done"],
      ]);
      // A host off the allowlist is refused at the call, naming the field.
      const refused = await stack.client
        .promoteImage({
          project: "my-project",
          image: "hooked-rel-2",
          notification: { url: "https://elsewhere.example.org/hooks" },
        })
        .catch((e: unknown) => e);
      expect((refused as ConnectError).code).toBe(Code.InvalidArgument);
      expect((refused as ConnectError).message).toContain("notification.url");
    } finally {
      await worker.stop();
    }
  });

  it("promotes once READY only after the release check passes: a 503 is asked again, a 403 refuses, signed like webhooks", async () => {
    const worker = await stack.startWorker(WORKER_ENV);
    try {
      const base = "projects/debian-cloud/global/images/family/debian-12";
      await createFamily(stack.client, "checked", ["checked-1"]);
      const promotionOf = (op: {
        warnings: { code: string; data: { key: string; value: string }[] }[];
      }) =>
        op.warnings
          .find((w) => w.code === "RELEASE_PROMOTION")
          ?.data.find((d) => d.key === "operation")?.value ?? "";
      const waitDone = async (name: string) => {
        for (;;) {
          const op = await stack.client.waitOperation({ project: "my-project", operation: name });
          if (op.status === Operation_Status.DONE) return op;
        }
      };
      // Passes on the second ask.
      receiver.plan = (n) => (n === 1 ? 503 : "ok");
      // An image of the family, promoted once READY if the check says yes.
      const createChecked = (name: string) =>
        stack.client.createImage({
          project: "my-project",
          image: { name, family: "checked", sourceImage: base },
          release: ReleaseMode.PROMOTE_WHEN_READY,
          releaseCheckUrl: url,
        });
      const passed = await createChecked("checked-2");
      const promoted = await waitDone(promotionOf(passed));
      expect(promoted.error).toBeUndefined();
      expect(promoted.statusMessage).toContain("checked resolves to checked-2");
      const asked = receiver.attempts.filter((a) => a.type === "release.check");
      expect(asked.map((a) => [a.id, a.verified, a.name])).toEqual([
        [`${promotionOf(passed)}:check`, true, passed.name],
        [`${promotionOf(passed)}:check`, true, passed.name],
      ]);
      // Refused: nothing changes, and the operation says why.
      receiver.plan = () => 403;
      const refused = await createChecked("checked-3");
      const notPromoted = await waitDone(promotionOf(refused));
      expect(notPromoted.error?.errors[0]).toMatchObject({
        code: "CONDITION_NOT_MET",
        message: expect.stringContaining(
          "answered HTTP 403: the image was not promoted",
        ) as unknown,
      });
      // A check URL off the allowlist, or without promote-when-ready, is refused at the call.
      for (const request of [
        {
          release: ReleaseMode.PROMOTE_WHEN_READY,
          releaseCheckUrl: "https://elsewhere.example.org/c",
        },
        { release: ReleaseMode.HOLD, releaseCheckUrl: url },
      ]) {
        const bad = await stack.client
          .createImage({
            project: "my-project",
            image: { name: "checked-4", family: "checked", sourceImage: base },
            ...request,
          })
          .catch((e: unknown) => e);
        expect((bad as ConnectError).code).toBe(Code.InvalidArgument);
        expect((bad as ConnectError).message).toContain("release_check_url");
      }
    } finally {
      receiver.plan = () => "ok";
      await worker.stop();
    }
  });

  it.each(["in-process", "built"] as const)(
    "delivers a cancelled operation's DONE, signed, once per id, though its job never runs (%s gateway)",
    async (kind) => {
      const gateway =
        kind === "built"
          ? await stack.spawnGateway({
              WEBHOOK_ALLOWED_HOSTS: "hooks.example.com",
              WEBHOOK_ALLOW_LOCAL_HTTP: "true",
              // What gateways and workers of one deployment must agree on.
              WEBHOOK_ATTEMPTS: WORKER_ENV.WEBHOOK_ATTEMPTS,
              WEBHOOK_BACKOFF_MS: WORKER_ENV.WEBHOOK_BACKOFF_MS,
            })
          : undefined;
      const client = gateway === undefined ? stack.client : serviceClient(gateway.url);
      try {
        // No worker runs yet: the operation is cancelled while its job is queued.
        const op = await create(`hooked-cancelled-${kind}`, [Operation_Status.DONE], client);
        const cancelled = await client.cancelOperation({
          project: "my-project",
          operation: op.name,
        });
        expect(cancelled.error?.errors[0]?.code).toBe("CANCELLED");
        // A retried cancel (its answer lost, say) answers the same and queues nothing new.
        await client.cancelOperation({ project: "my-project", operation: op.name });
        const worker = await stack.startWorker(WORKER_ENV);
        try {
          await until(() => receiver.attempts.length >= 1, "the DONE delivery");
          await new Promise((r) => setTimeout(r, 500)); // nothing more comes
          expect(receiver.attempts).toEqual([
            {
              id: `${op.name}:DONE`,
              type: "operation.done",
              status: "DONE",
              name: op.name,
              verified: true,
            },
          ]);
          expect(stack.emulator.admin.state().insertCalls[op.clientOperationId]).toBeUndefined();
        } finally {
          await worker.stop();
        }
      } finally {
        await gateway?.app.stop();
      }
    },
  );

  it("retries on 500 and on a dropped connection, with the same webhook-id", async () => {
    receiver.plan = (n) => (n === 1 ? 500 : n === 2 ? "drop" : "ok");
    const worker = await stack.startWorker(WORKER_ENV);
    try {
      const op = await create("hooked-2");
      await until(() => receiver.attempts.length >= 3, "three attempts");
      expect(receiver.attempts.map((a) => a.id)).toEqual([
        `${op.name}:DONE`,
        `${op.name}:DONE`,
        `${op.name}:DONE`,
      ]);
      expect(receiver.deduped()).toHaveLength(1);
      expect(receiver.attempts.every((a) => a.verified)).toBe(true);
    } finally {
      await worker.stop();
    }
  });

  it("delivers DONE after the worker following the operation is killed -9", async () => {
    const first = await stack.startWorker(WORKER_ENV);
    const op = await create("hooked-3");
    await until(
      () => stack.emulator.admin.state().operations.some((o) => o.status === "RUNNING"),
      "the Compute operation to run",
    );
    first.child.kill("SIGKILL");
    const second = await stack.startWorker(WORKER_ENV);
    try {
      await until(() => receiver.attempts.some((a) => a.status === "DONE"), "DONE", 30_000);
      expect(receiver.deduped().map((a) => a.id)).toEqual([`${op.name}:DONE`]);
      expect(receiver.attempts.every((a) => a.verified)).toBe(true);
    } finally {
      await second.stop();
    }
  });

  it("records a delivery whose retries ran out: a log line and a metric, never the secret", async () => {
    receiver.plan = () => 500;
    // Fewer attempts than the deployment's: this worker's become the deployment's (a rollout).
    const worker = await stack.startWorker({
      ...WORKER_ENV,
      WEBHOOK_ATTEMPTS: "2",
      DEPLOYMENT_SETTINGS: "replace",
    });
    try {
      const op = await create("hooked-5");
      await until(
        () => worker.lines.some((l) => l["msg"] === "webhook not delivered: retries ran out"),
        "the failure to be logged",
      );
      expect(receiver.attempts).toHaveLength(2);
      const line = worker.lines.find((l) => l["msg"] === "webhook not delivered: retries ran out");
      expect(line).toMatchObject({
        webhookId: `${op.name}:DONE`,
        host: expect.any(String) as unknown,
      });
      const admin = String(worker.readyLine["admin"]);
      const metrics = await (await fetch(`${admin}/metrics`)).text();
      expect(metrics).toMatch(
        /imagesvc_webhook_deliveries_total\{[^}]*outcome="failed"[^}]*\} 1\n/,
      );
      expect(JSON.stringify(worker.lines)).not.toContain(SECRET.slice(6));
    } finally {
      await worker.stop();
    }
  });

  it("refuses a host off the allowlist at CreateImage, naming the field; nothing is stored", async () => {
    url = "https://evil.example.net/hooks";
    const error = await create("hooked-4").then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(error?.code).toBe(Code.InvalidArgument);
    expect(error?.rawMessage).toMatch(
      /notification\.url: names evil\.example\.net, which this service does not call; ask its operators to add it to WEBHOOK_ALLOWED_HOSTS/,
    );
    const listed = await stack.client.listOperations({ project: "my-project" });
    expect(listed.items.map((o) => o.targetLink)).not.toContainEqual(
      expect.stringContaining("hooked-4"),
    );
  });
});
