// The operations console in a real browser (Debian's Chromium, driven by playwright-core) on a
// real stack: the built gateway serving /console/, a worker, the emulator, Redis. Keyboard only:
// create an image through the form and see its bar move to DONE; see the shared validation
// message; see a failed operation's Compute error; restart the gateway and see the page resume;
// run axe-core. A screenshot of each state goes to dist/test-output/console/.
import { create } from "@bufbuild/protobuf";
import { CreateImageRequestSchema } from "@imagesvc/proto";
import { validateCreateImageRequest } from "@imagesvc/validation";
import { existsSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { archiveOf, createFamily, startStack, type Stack, uploadObject } from "./stack.test-helper";

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
const CONSOLE_DIR = join(ROOT, "dist/apps/console");
const SHOTS = join(ROOT, "dist/test-output/console");
const CHROMIUM = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";
const available = existsSync(CHROMIUM) && existsSync(join(CONSOLE_DIR, "index.html"));

let stack: Stack;
let browser: Browser;
let gateway: Awaited<ReturnType<Stack["spawnGateway"]>>;
let worker: Awaited<ReturnType<Stack["startWorker"]>>;
let page: Page;
let gatewayEnv: Record<string, string>;

beforeAll(async () => {
  if (!available) return;
  mkdirSync(SHOTS, { recursive: true });
  stack = await startStack({ emulator: { operationDurationMs: 4000 } });
  worker = await stack.startWorker();
  // The family view reads Compute with the gateway's credentials (the emulator's metadata server).
  gatewayEnv = { CONSOLE_DIR, PREFLIGHT: "off", COMPUTE_ENDPOINT: stack.emulator.url };
  gateway = await stack.spawnGateway(gatewayEnv);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${gateway.url}/console/`);
}, 60_000);
afterAll(async () => {
  if (!available) return;
  await browser.close();
  await gateway.app.stop();
  await stack.close();
});

const shot = (name: string) =>
  page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
const row = (image: string) => page.locator("#operations tbody tr", { hasText: image });
/** The next `count` inserts take 20 s at Compute, so their operations stay open that long. */
const holdInserts = (count: number) =>
  stack.emulator.admin.addFault({
    route: "images.insert",
    effect: "latency",
    latencyMs: 20_000,
    count,
  });
/** Watch streams open at the gateway, from its metrics. */
async function openStreams(): Promise<number> {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  return Number(/^imagesvc_watch_streams_open(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? NaN);
}

/** Moves focus with Tab alone until it reaches `id`, as a keyboard user does. */
async function tabTo(id: string): Promise<void> {
  for (let i = 0; i < 40; i++) {
    if ((await page.evaluate("document.activeElement && document.activeElement.id")) === id) return;
    await page.keyboard.press("Tab");
  }
  throw new Error(`Tab never reached #${id}`);
}

async function createByKeyboard(name: string, rawDisk = ""): Promise<void> {
  await tabTo("name");
  await page.keyboard.press("Control+A");
  await page.keyboard.type(name);
  await tabTo("raw-disk");
  await page.keyboard.press("Control+A");
  await page.keyboard.type(rawDisk);
  if (rawDisk === "") await page.keyboard.press("Backspace");
  await page.keyboard.press("Enter"); // submits the form
}

describe.skipIf(!available)("the operations console", () => {
  it("opens at the gateway's own URL, with its icon, and no request answered 404", async () => {
    const other = await browser.newPage();
    const missing: string[] = [];
    other.on("response", (r) => {
      if (r.status() === 404) missing.push(r.url());
    });
    try {
      await other.goto(`${gateway.url}/`);
      expect(new URL(other.url()).pathname).toBe("/console/");
      await other.locator("#operations").waitFor();
      const icon = await fetch(`${gateway.url}/favicon.ico`);
      expect(icon.status).toBe(200);
      expect(icon.headers.get("content-type")).toBe("image/svg+xml");
      expect(missing).toEqual([]);
    } finally {
      await other.close();
    }
  });

  it("creates an image from the form, by keyboard alone, and shows its bar moving to DONE", async () => {
    await createByKeyboard("console-1");
    await expect.poll(() => row("console-1").count()).toBe(1);
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      seen.add(Number(await row("console-1").locator("progress").getAttribute("value")));
      if ((await row("console-1").getAttribute("data-status")) === "DONE") break;
      if (i === 5) await shot("1-running");
      await page.waitForTimeout(100);
    }
    expect(await row("console-1").getAttribute("data-status")).toBe("DONE");
    expect(seen.size).toBeGreaterThanOrEqual(3); // it moved while we watched, not only at the end
    expect(await row("console-1").locator("progress").getAttribute("value")).toBe("100");
    await expect
      .poll(() => row("console-1").locator("a").textContent())
      .toMatch(/images\/console-1$/);
    await shot("2-done");
  });

  it("shows the validation message libs/validation gives, as you type", async () => {
    await tabTo("name");
    await page.keyboard.press("Control+A");
    await page.keyboard.type("Bad_Name");
    const expected = validateCreateImageRequest(
      create(CreateImageRequestSchema, {
        project: "my-project",
        image: {
          name: "Bad_Name",
          sourceImage: "projects/debian-cloud/global/images/family/debian-12",
        },
      }),
    ).find((v) => v.field === "image.name");
    await expect
      .poll(() => page.locator("#name-error").textContent())
      .toBe(`image.name: ${expected?.description ?? "?"}`);
    expect(await page.locator("#name").getAttribute("aria-invalid")).toBe("true");
    await shot("3-invalid-name");
  });

  it("validates a pasted images.insert body as you type, then creates from it", async () => {
    const body = (fileType: string) =>
      JSON.stringify({
        name: "console-body",
        sourceImage: "projects/debian-cloud/global/images/family/debian-12",
        shieldedInstanceInitialState: { pk: { content: "MIIB", fileType } },
        deprecated: { state: "DEPRECATED" },
      });
    await page.locator("#body").fill(body("PEM"));
    await expect
      .poll(() => page.locator("#body-errors li").allTextContents())
      .toEqual([
        'image.shielded_instance_initial_state.pk.file_type: "PEM" is not a file type; use "X509" (a DER certificate), "BIN" (an EFI signature list) or "UNDEFINED"',
      ]);
    expect(await page.locator("#body").getAttribute("aria-invalid")).toBe("true");
    await page.locator("#body").fill('{"name": "x", "sourceImageUrl": "y"}');
    await expect
      .poll(() => page.locator("#body-errors li").allTextContents())
      .toEqual([expect.stringMatching(/^not an images.insert body: .*sourceImageUrl/)]);
    await page.locator("#body").fill(body("X509"));
    await expect.poll(() => page.locator("#body-errors li").count()).toBe(0);
    await page.locator("#body-create-button").click();
    await expect.poll(() => page.locator("#body-result").textContent()).toMatch(/accepted/);
    await expect.poll(() => row("console-body").count()).toBe(1);
  });

  it("shows a failed operation's Compute error", async () => {
    await uploadObject(stack.emulator, "named.tar.gz", archiveOf("tmp/output.img"));
    await createByKeyboard("console-bad", "https://storage.googleapis.com/my-bucket/named.tar.gz");
    await expect.poll(() => page.locator("#create-result").textContent()).toMatch(/accepted/);
    await expect
      .poll(() => row("console-bad").locator(".failed").textContent(), { timeout: 20_000 })
      .toBe(
        "INVALID_IMAGE_TAR: The tar archive contained a file that was named 'tmp/output.img'. It should be named 'disk.raw'.",
      );
    // A failed operation reads as failed, in a colour of its own; a good one as succeeded.
    const outcome = (image: string) => row(image).locator(".outcome");
    expect(await outcome("console-bad").textContent()).toBe("failed");
    expect(await outcome("console-bad").getAttribute("class")).toMatch(/\boutcome-failed\b/);
    expect(await outcome("console-1").textContent()).toBe("succeeded");
    await shot("4-failed");
    // Filtered by outcome: the failed filter shows failed operations only, and succeeded hides them.
    const visibleOutcomes = async () =>
      Promise.all(
        (await page.locator("#operations tbody tr:visible").all()).map((tr) =>
          tr.getAttribute("data-outcome"),
        ),
      );
    const show = async (value: string) => {
      await page.selectOption("#status", value);
      await page.getByRole("button", { name: "Show operations" }).click();
    };
    await show("failed");
    await expect.poll(() => row("console-bad").isVisible()).toBe(true);
    expect(new Set(await visibleOutcomes())).toEqual(new Set(["failed"]));
    await show("succeeded");
    await expect.poll(() => row("console-1").isVisible()).toBe(true);
    expect(await row("console-bad").isVisible()).toBe(false);
    expect(new Set(await visibleOutcomes())).toEqual(new Set(["succeeded"]));
    await show("");
    await expect.poll(() => row("console-bad").isVisible()).toBe(true);
  });

  it("resumes its streams after the gateway restarts", async () => {
    await createByKeyboard("console-restart");
    await expect
      .poll(() => row("console-restart").getAttribute("data-status"))
      .toMatch(/PENDING|RUNNING/);
    await gateway.app.stop();
    await expect
      .poll(() => page.locator("#stream-status").textContent(), { timeout: 10_000 })
      .toMatch(/reconnecting/);
    await shot("5-reconnecting");
    gateway = await stack.spawnGateway(gatewayEnv, gateway.port);
    await expect
      .poll(() => row("console-restart").getAttribute("data-status"), { timeout: 30_000 })
      .toBe("DONE");
    expect(await page.locator("#stream-status").textContent()).toBe("");
    // The details show every version the service recorded, once each, in order, across the
    // restart, and again after a reload (the service keeps them, not the page).
    await row("console-restart")
      .getByRole("button", { name: /^Details of/ })
      .press("Enter");
    const versions = async () =>
      (await page.locator("#history tbody tr").allInnerTexts()).map((t) => t.split("\t"));
    await expect.poll(async () => (await versions()).at(-1)?.slice(1, 3)).toEqual(["DONE", "100%"]);
    const seen = await versions();
    const numbers = seen.map((v) => Number(/^v(\d+)/.exec(v[0] ?? "")?.[1]));
    expect(numbers).toEqual(numbers.map((_, i) => i + 1));
    expect(seen[0]?.[1]).toBe("PENDING");
    expect(await page.locator("#detail-facts").innerText()).toMatch(
      /Compute operation\s+https?:\/\/\S+\/operations\/\S+/,
    );
    expect(await page.locator("#detail-facts").innerText()).toMatch(
      /Ended\s+.*ran \d+ s, \d+ s in all/,
    );
    expect(await page.locator("#detail-request").textContent()).toContain(
      '"name": "console-restart"',
    );
    await shot("6-details");
    await page.reload();
    await expect.poll(() => page.locator("#detail").isVisible()).toBe(true);
    await expect.poll(versions).toEqual(seen);
  });

  it("closes the streams of a list it replaces: ten filter changes leave only the shown list's open", async () => {
    // Two operations held before Compute answers (their inserts take 20 s), so they stay open.
    holdInserts(2);
    await createByKeyboard("console-held-1");
    await expect.poll(() => row("console-held-1").count()).toBe(1);
    await createByKeyboard("console-held-2");
    await expect.poll(() => row("console-held-2").count()).toBe(1);
    for (let i = 0; i < 10; i++) {
      await page.selectOption("#status", i % 2 === 0 ? "PENDING" : "");
      await page.getByRole("button", { name: "Show operations" }).click();
      await expect.poll(() => row("console-held-2").count()).toBe(1);
    }
    // The shown list watches the two held operations, and nothing else is left open.
    await expect.poll(openStreams, { timeout: 5000 }).toBe(2);
    await page.waitForTimeout(500);
    expect(await openStreams()).toBe(2);
    // Only rows on show are watched: a search that hides one closes its stream, and clearing
    // the search opens it again.
    await page.locator("#search").fill("console-held-2");
    await expect.poll(openStreams, { timeout: 5000 }).toBe(1);
    await page.locator("#search").fill("");
    await expect.poll(openStreams, { timeout: 5000 }).toBe(2);
    stack.emulator.admin.clearFaults();
  });

  it("shows each operation's name, dates and duration; searches by image; pages past 50; cancels, or says why not; keeps its state in a shareable URL", async () => {
    // The name, copyable, and dates with the duration it took.
    const done = row("console-1");
    const name = (await done.locator("code").textContent()) ?? "";
    expect(name).toMatch(/^operation-\d+-[0-9a-f]{32}$/);
    expect(await done.locator("td.time").nth(1).textContent()).toMatch(/\d.*\(\d+ s\)$/);
    expect(await done.locator("progress + span").textContent()).toBe(" 100%");

    // Search by image name.
    await page.locator("#search").fill("console-bad");
    await expect.poll(() => page.locator("#operations tbody tr:visible").count()).toBe(1);
    expect(await row("console-bad").isVisible()).toBe(true);
    expect(new URL(page.url()).searchParams.get("q")).toBe("console-bad");
    await page.locator("#search").fill("");

    // A link keeps the project, the filter and the open operation.
    await page.selectOption("#status", "failed");
    await page.getByRole("button", { name: "Show operations" }).click();
    await expect.poll(() => row("console-bad").isVisible()).toBe(true);
    await row("console-bad")
      .getByRole("button", { name: /^Details of/ })
      .click();
    await expect.poll(() => new URL(page.url()).searchParams.get("op")).toMatch(/^operation-/);
    const link = page.url();
    expect(new URL(link).searchParams.get("status")).toBe("failed");
    const shared = await browser.newPage();
    try {
      await shared.goto(link);
      await expect.poll(() => shared.locator("#detail").isVisible()).toBe(true);
      expect(await shared.locator("#status").inputValue()).toBe("failed");
      expect(await shared.locator("#detail-heading").textContent()).toContain("console-bad");
      // The error in full, and the request as it was asked.
      const errors = (await shared.locator("#detail-errors").textContent()) ?? "";
      expect(errors).toContain(
        "INVALID_IMAGE_TAR (at rawDisk.source): The tar archive contained a file that was named 'tmp/output.img'.",
      );
      expect(errors).toContain('"reason": "INVALID_IMAGE_TAR"'); // Compute's details, as sent
      expect(await shared.locator("#detail-request").textContent()).toContain("named.tar.gz");
    } finally {
      await shared.close();
    }
    await page.selectOption("#status", "");
    await page.getByRole("button", { name: "Show operations" }).click();

    // Cancel while the insert is not sent is offered; once it is, the service's reason is shown.
    holdInserts(1);
    await createByKeyboard("console-sent");
    await expect.poll(() => row("console-sent").count()).toBe(1);
    // Its insert is under way at Compute: a cancel now is refused, with the reason.
    await expect
      .poll(
        async () => {
          const cancel = row("console-sent").getByRole("button", { name: /^Cancel/ });
          if (await cancel.isVisible()) await cancel.click();
          return row("console-sent").locator(".failed").textContent();
        },
        { timeout: 10_000 },
      )
      .toMatch(/Not cancelled: .*cannot be cancelled/);
    stack.emulator.admin.clearFaults();

    // Cancel before any worker took it: it ends cancelled.
    await worker.stop();
    await createByKeyboard("console-cancelled");
    await expect.poll(() => row("console-cancelled").count()).toBe(1);
    await row("console-cancelled")
      .getByRole("button", { name: /^Cancel/ })
      .click();
    await expect
      .poll(() => row("console-cancelled").locator(".outcome").textContent())
      .toBe("cancelled");
    expect(
      await row("console-cancelled")
        .getByRole("button", { name: /^Cancel/ })
        .isVisible(),
    ).toBe(false);
    worker = await stack.startWorker();

    // A failed, a cancelled and a running operation side by side, each in its own word.
    stack.emulator.admin.configure({ operationDurationMs: 60_000 });
    await createByKeyboard("console-running");
    await expect
      .poll(() => row("console-running").locator(".outcome").textContent(), { timeout: 10_000 })
      .toBe("running");
    stack.emulator.admin.configure({ operationDurationMs: 4000 });
    const outcomes = await Promise.all(
      ["console-bad", "console-cancelled", "console-running"].map(async (image) => [
        image,
        (await row(image).isVisible()) && (await row(image).locator(".outcome").textContent()),
      ]),
    );
    expect(outcomes).toEqual([
      ["console-bad", "failed"],
      ["console-cancelled", "cancelled"],
      ["console-running", "running"],
    ]);
    // Tabbing to the form scrolled the table sideways on the way; a person starts at its left.
    await page.evaluate("document.querySelector('.table-wrap').scrollLeft = 0");
    await shot("7-side-by-side");

    // Paging: past 50 operations, "Show more" brings the next page.
    for (let i = 0; i < 50; i++)
      await stack.client.createImage({
        project: "my-project",
        image: {
          name: `console-page-${i}`,
          sourceImage: "projects/debian-cloud/global/images/family/debian-12",
        },
      });
    await page.getByRole("button", { name: "Show operations" }).click();
    await expect.poll(() => page.locator("#operations tbody tr").count()).toBe(50);
    await page.getByRole("button", { name: "Show more" }).click();
    await expect
      .poll(async () => {
        const count = await page.locator("#operations tbody tr").count();
        return count > 50
          ? "more"
          : `${count} rows; ${await page.locator("#stream-status").textContent()}`;
      })
      .toBe("more");
    // However many are listed, the page holds at most four watch streams: the browser's other
    // connections stay free for listing, creating and cancelling.
    expect(await openStreams()).toBeLessThanOrEqual(4);

    // A search covers the pages not loaded: console-bad is past the first 50 now.
    await page.getByRole("button", { name: "Show operations" }).click();
    await expect.poll(() => page.locator("#operations tbody tr").count()).toBe(50);
    expect(await row("console-bad").count()).toBe(0);
    await page.locator("#search").fill("console-bad");
    await expect.poll(() => row("console-bad").isVisible(), { timeout: 10_000 }).toBe(true);
    await page.locator("#search").fill("");

    // So does a shared link to it: its row comes first, its details open.
    const deep = await browser.newPage();
    try {
      const bad = new URL(link).searchParams.get("op") ?? "";
      await deep.goto(`${gateway.url}/console/?project=my-project&op=${encodeURIComponent(bad)}`);
      await expect.poll(() => deep.locator("#detail").isVisible()).toBe(true);
      expect(await deep.locator("#detail-heading").textContent()).toContain("console-bad");
      expect(await deep.locator("#operations tbody tr").first().textContent()).toContain(
        "console-bad",
      );
    } finally {
      await deep.close();
    }
  });

  it("fits a 420 px screen: the page does not scroll sideways", async () => {
    const narrow = await browser.newPage({ viewport: { width: 420, height: 800 } });
    try {
      await narrow.goto(`${gateway.url}/console/`);
      await narrow.locator("#operations tbody tr").first().waitFor();
      const width = await narrow.evaluate("document.documentElement.scrollWidth");
      expect(width).toBeLessThanOrEqual(420);
      await narrow.screenshot({ path: join(SHOTS, "8-narrow.png"), fullPage: true });
    } finally {
      await narrow.close();
    }
    await page.setViewportSize({ width: 1400, height: 900 });
    await shot("9-wide");
  });

  it("shows a family: what it resolves to, its images and release history; rolls back behind a confirmation", async () => {
    await createFamily(stack.client, "cfam", ["cfam-1", "cfam-2"]);
    await page.locator("#family").focus();
    await page.keyboard.type("cfam");
    await page.keyboard.press("Enter");
    const resolves = page.locator("#family-resolves");
    await expect.poll(() => resolves.textContent()).toBe("cfam resolves to cfam-2.");
    expect(await page.locator("#family-images tbody tr").count()).toBe(2);
    expect(await page.locator("#family-images tbody tr.current td").first().textContent()).toBe(
      "cfam-2",
    );
    // The confirmation says what will happen; Escape keeps the family as it is.
    await tabTo("rollback");
    await page.keyboard.press("Enter");
    const dialog = page.locator("#rollback-dialog");
    await expect.poll(() => dialog.isVisible()).toBe(true);
    expect(await page.locator("#rollback-confirm-text").textContent()).toContain(
      "Rolling back makes cfam-2 DEPRECATED and cfam-1 ACTIVE",
    );
    await page.keyboard.press("Escape");
    await expect.poll(() => dialog.isVisible()).toBe(false);
    expect(await page.locator("#family-result").textContent()).toBe("");
    await page.locator("#rollback").click();
    await page.locator("#rollback-confirm").click();
    await expect
      .poll(() => page.locator("#family-result").textContent(), { timeout: 20_000 })
      .toBe("Rolled back: cfam resolves to cfam-1; cfam-2 is DEPRECATED.");
    await expect.poll(() => resolves.textContent()).toBe("cfam resolves to cfam-1.");
    // The history is read after the family itself: wait for it.
    await expect
      .poll(() => page.locator("#family-history li").first().textContent())
      .toMatch(/rollback by .* done · cfam resolves to cfam-1/);
    await page.locator("#family-heading").scrollIntoViewIfNeeded();
    await shot("10-family");
  });

  it("has no serious or critical axe-core violation", async () => {
    // The console's Content-Security-Policy (rightly) refuses injected scripts: axe runs in a
    // page that bypasses it, on the same console.
    const context = await browser.newContext({ bypassCSP: true });
    const audited = await context.newPage();
    await audited.goto(`${gateway.url}/console/`);
    await expect.poll(() => audited.locator("#operations tbody tr").count()).toBeGreaterThan(0);
    await audited.addScriptTag({
      path: createRequire(import.meta.url).resolve("axe-core/axe.min.js"),
    });
    const violations = await audited.evaluate<{ id: string; impact: string; help: string }[]>(
      "axe.run().then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help })))",
    );
    await context.close();
    expect(violations.filter((v) => v.impact === "serious" || v.impact === "critical")).toEqual([]);
  });
});
