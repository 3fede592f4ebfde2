// The console's family view: what an image family resolves to now (GetFamily, read from Compute
// by the gateway), its images with their states and scheduled moves, its retention policy, the
// release operations that changed it, and a rollback behind a confirmation that names what it
// will do before it does it.
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { ConnectError, type Client } from "@connectrpc/connect";
import { Operation_Status, type Family, type ImageService, type Operation } from "@imagesvc/proto";
import { fillTextTable, type Column } from "./text-table";

const RELEASE_TYPES = new Set([
  "promote",
  "rollback",
  "deprecate",
  "retain",
  "setFamilyPolicy",
  "share",
]);

function element<T extends HTMLElement>(id: string, type: new () => T): T {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new Error(`index.html has no #${id} of the right kind`);
  return found;
}

/** The family's images as the table shows them; `current` is marked as such. */
const imageColumns = (current: string): Column<Family["images"][number]>[] => [
  { header: "Image", text: (image) => image.name },
  { header: "Status", text: (image) => image.status },
  {
    header: "State",
    text: (image) =>
      stateOf(image.deprecated?.state) + (image.name === current ? " (current)" : ""),
  },
  { header: "Created", text: (image) => time(image.creationTimestamp) },
  {
    header: "Scheduled",
    text: (image) =>
      image.schedule
        .map(
          (s) =>
            `${s.state} at ${s.time === undefined ? "" : new Date(timestampMs(s.time)).toLocaleString()}`,
        )
        .join(", "),
  },
];

const time = (iso: string) => (iso === "" ? "" : new Date(iso).toLocaleString());
const stateOf = (state: string | undefined) =>
  state === undefined || state === "" ? "ACTIVE" : state;

/**
 * The image a rollback goes back to, as the service chooses it (libs/lifecycle's
 * rollbackTargetOf): the one the current image replaced (the latest retired with it as their
 * replacement), else the newest READY image before the current one; never OBSOLETE or DELETED.
 */
export function rollbackTarget(family: Family): string | undefined {
  const current = family.images.find((i) => i.name === family.resolvesTo);
  const usable = family.images.filter(
    (i) =>
      i.name !== family.resolvesTo &&
      i.status === "READY" &&
      !["OBSOLETE", "DELETED"].includes(stateOf(i.deprecated?.state)),
  );
  const replacedBy = (i: (typeof usable)[number]) => {
    const r = i.deprecated?.replacement ?? "";
    return r.slice(r.lastIndexOf("/") + 1);
  };
  // The image the current one replaced: the latest retired in its favour (images are newest first).
  const replaced = usable
    .filter((i) => current !== undefined && replacedBy(i) === current.name)
    .sort((a, b) => (b.deprecated?.deprecated ?? "").localeCompare(a.deprecated?.deprecated ?? ""));
  return (
    replaced[0]?.name ??
    usable.find((i) => current === undefined || i.creationTimestamp < current.creationTimestamp)
      ?.name
  );
}

export function initFamilyView(
  client: Client<typeof ImageService>,
  project: () => string,
): { show(name: string): Promise<void> } {
  const form = element("family-form", HTMLFormElement);
  const input = element("family", HTMLInputElement);
  const resolves = element("family-resolves", HTMLParagraphElement);
  const images = element("family-images", HTMLTableElement);
  fillTextTable(images, imageColumns(""), []);
  const policy = element("family-policy", HTMLParagraphElement);
  const history = element("family-history", HTMLUListElement);
  const rollback = element("rollback", HTMLButtonElement);
  const dialog = element("rollback-dialog", HTMLDialogElement);
  const confirmText = element("rollback-confirm-text", HTMLParagraphElement);
  const result = element("family-result", HTMLParagraphElement);
  let shown: Family | undefined;

  async function show(name: string): Promise<void> {
    input.value = name;
    let family: Family;
    try {
      family = await client.getFamily({ project: project(), family: name });
    } catch (e) {
      resolves.textContent = `Could not read family ${name}: ${ConnectError.from(e).rawMessage}`;
      rollback.hidden = true;
      fillTextTable(images, imageColumns(""), []);
      return;
    }
    shown = family;
    resolves.textContent =
      family.resolvesTo === ""
        ? `${family.name} resolves to nothing: it has no READY ACTIVE image.`
        : `${family.name} resolves to ${family.resolvesTo}.`;
    fillTextTable(images, imageColumns(family.resolvesTo), family.images, (tr, image) => {
      if (image.name === family.resolvesTo) tr.className = "current";
    });
    const p = family.policy;
    policy.textContent =
      p === undefined
        ? "No retention policy."
        : `Retention: ${[
            p.keepNewest > 0 ? `keep the newest ${p.keepNewest}` : "",
            p.deprecateAfter === undefined
              ? ""
              : `deprecate after ${Number(p.deprecateAfter.seconds) / 86_400} days`,
            p.deleteAfter === undefined
              ? ""
              : `delete ${Number(p.deleteAfter.seconds) / 86_400} days after OBSOLETE`,
            `never an image labelled ${p.exclusionLabel}`,
          ]
            .filter((s) => s !== "")
            .join("; ")}.`;
    const target = rollbackTarget(family);
    rollback.hidden = target === undefined || family.resolvesTo === "";
    await showHistory(family);
  }

  /** The release operations that named this family or one of its images, newest first. */
  async function showHistory(family: Family): Promise<void> {
    const names = new Set(family.images.map((i) => i.name));
    const ours = (op: Operation) => {
      const link = op.targetLink;
      if (link.endsWith(`/images/family/${family.name}`)) return true;
      return names.has(link.slice(link.lastIndexOf("/") + 1));
    };
    const found: Operation[] = [];
    let pageToken = "";
    for (let pages = 0; pages < 4; pages++) {
      const page = await client.listOperations({ project: project(), maxResults: 500, pageToken });
      found.push(...page.items.filter((op) => RELEASE_TYPES.has(op.operationType) && ours(op)));
      pageToken = page.nextPageToken;
      if (pageToken === "" || found.length >= 20) break;
    }
    history.replaceChildren(
      ...found.slice(0, 20).map((op) => {
        const li = document.createElement("li");
        const outcome =
          op.status !== Operation_Status.DONE
            ? Operation_Status[op.status].toLowerCase()
            : op.error === undefined
              ? "done"
              : `failed: ${op.error.errors[0]?.message ?? ""}`;
        li.textContent = `${time(op.insertTime)} · ${op.operationType} by ${op.user} · ${outcome}${op.statusMessage === "" ? "" : ` · ${op.statusMessage}`}`;
        return li;
      }),
    );
    if (found.length === 0) {
      const li = document.createElement("li");
      li.textContent = "No release operations yet.";
      history.append(li);
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const name = input.value.trim();
    result.textContent = "";
    if (name !== "") void show(name);
  });
  rollback.addEventListener("click", () => {
    if (shown === undefined) return;
    const target = rollbackTarget(shown);
    confirmText.textContent = `${shown.name} resolves to ${shown.resolvesTo} now. Rolling back makes ${shown.resolvesTo} DEPRECATED and ${target ?? "the image before it"} ACTIVE: new instances of ${shown.name} boot ${target ?? "it"}.`;
    dialog.showModal();
  });
  dialog.addEventListener("close", () => {
    if (dialog.returnValue !== "rollback" || shown === undefined) return;
    const family = shown;
    void (async () => {
      result.textContent = `Rolling back ${family.name}…`;
      try {
        // The image the confirmation named, not whatever the family's state makes it now.
        const target = rollbackTarget(family);
        let op = await client.rollbackFamily({
          project: project(),
          family: family.name,
          toImage: target ?? "",
        });
        while (op.status !== Operation_Status.DONE)
          op = await client.waitOperation({ project: project(), operation: op.name });
        result.textContent =
          op.error === undefined
            ? `Rolled back: ${op.statusMessage}.`
            : `The rollback failed: ${op.error.errors[0]?.message ?? ""}`;
      } catch (e) {
        result.textContent = `The rollback was refused: ${ConnectError.from(e).rawMessage}`;
      }
      await show(family.name);
    })();
  });
  return { show };
}
