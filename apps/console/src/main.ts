// The operations console: a project's operations, newest first, each moving live as versions
// arrive, and one operation's details under its row (every version the service recorded, the
// request, the Compute operation, durations, the error in full); a create form, and a box for a
// whole images.insert body, that validate as you type with libs/validation itself. It talks to
// the gateway that serves it with Connect (ListOperations, WatchOperation, GetOperationHistory,
// CreateImage, CancelOperation, and GetFamily and RollbackFamily for the family view in
// family.ts): no API of its own. Streams that break (a gateway restart) reconnect and resume
// from the last version. Only rows on show are watched.
import { create, fromJson, toJsonString, type JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import {
  CreateImageRequestSchema,
  ImageSchema,
  ImageService,
  Operation_ErrorDetailSchema,
  Operation_Status,
  type CreateImageRequest,
  type Operation,
  type OperationHistory,
} from "@imagesvc/proto";
import { backoffDelay, sleep } from "@imagesvc/runtime";
import { validateCreateImageRequest } from "@imagesvc/validation";
import { initFamilyView } from "./family";
import { fillTextTable, type Column } from "./text-table";

/** The columns of an operation's versions in its details. */
const VERSION_COLUMNS: Column<Operation>[] = [
  { header: "Version", text: (v) => `v${v.version}` },
  { header: "Status", text: (v) => Operation_Status[v.status] },
  { header: "Progress", text: (v) => `${v.progress}%` },
  { header: "Message", text: (v) => v.statusMessage },
  {
    header: "Error",
    text: (v) => {
      const failure = v.error?.errors[0];
      return failure === undefined ? "" : `${failure.code}: ${failure.message}`;
    },
  },
];

const TOKEN_KEY = "imagesvc-token";
/** Reconnects and retries back off from 250 ms to 4 s, jittered, so many tabs do not retry in step. */
const RECONNECT = { initialMs: 250, maxMs: 4000 };
/** An element of index.html, by id; the page is static, so a missing one is a bug. */
function $(id: string): HTMLElement {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`index.html has no #${id}`);
  return element;
}
function field(id: string): HTMLInputElement | HTMLSelectElement {
  const element = $(id);
  if (!(element instanceof HTMLInputElement || element instanceof HTMLSelectElement))
    throw new Error(`#${id} is not a form field`);
  return element;
}

const auth: Interceptor = (next) => (req) => {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) req.header.set("authorization", `Bearer ${token}`);
  return next(req);
};
const client = createClient(
  ImageService,
  createConnectTransport({ baseUrl: location.origin, interceptors: [auth] }),
);

interface Cells {
  readonly image: HTMLTableCellElement;
  readonly name: HTMLTableCellElement;
  readonly status: HTMLTableCellElement;
  readonly percent: HTMLSpanElement;
  readonly actions: HTMLTableCellElement;
  readonly bar: HTMLProgressElement;
  readonly started: HTMLTableCellElement;
  readonly ended: HTMLTableCellElement;
  readonly result: HTMLTableCellElement;
}
interface Row {
  last: Operation;
  readonly element: HTMLTableRowElement;
  readonly cells: Cells;
  watching: boolean;
  /** Ends this row's watch (it is hidden now); the list's signal ends every row's. */
  unwatch?: AbortController;
  /** Why the service refused to cancel it, once asked. */
  refusal?: string;
}

/** The operation whose details are open, what the service recorded of it, and newer versions. */
interface Detail {
  readonly name: string;
  readonly element: HTMLTableRowElement;
  recorded?: OperationHistory;
}
let detail: Detail | undefined;
const rows = new Map<string, Row>();
let project = "my-project";
/** The shown list's watches: a new list aborts them all, so no stream outlives its row. */
let listing = new AbortController();

const imageOf = (op: Operation) => op.targetLink.slice(op.targetLink.lastIndexOf("/") + 1);
/** A date and a time, as the reader's locale writes them. */
const time = (iso: string) => (iso === "" ? "" : new Date(iso).toLocaleString());
/** How long from `from` to `to` (or to now): `42 s`, `3 min 5 s`, `1 h 2 min`. */
function took(from: string, to: string): string {
  if (from === "") return "";
  const seconds = Math.max(
    0,
    Math.round(((to === "" ? Date.now() : Date.parse(to)) - Date.parse(from)) / 1000),
  );
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${seconds % 60} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** What became of an operation, as people say it: DONE alone does not tell success from failure. */
type Outcome = "pending" | "running" | "succeeded" | "failed" | "cancelled";
const OUTCOMES: readonly string[] = ["succeeded", "failed", "cancelled"];

function outcomeOf(op: Operation): Outcome {
  if (op.status === Operation_Status.PENDING) return "pending";
  if (op.status === Operation_Status.RUNNING) return "running";
  const code = op.error?.errors[0]?.code;
  return code === undefined ? "succeeded" : code === "CANCELLED" ? "cancelled" : "failed";
}

function render(row: Row): void {
  const op = row.last;
  const status = Operation_Status[op.status];
  const failure = op.error?.errors[0];
  const { cells } = row;
  const name = imageOf(op);
  cells.image.textContent = name;
  const outcome = outcomeOf(op);
  const word = document.createElement("span");
  word.className = `outcome outcome-${outcome}`;
  word.textContent = outcome;
  cells.status.replaceChildren(word);
  cells.bar.value = op.progress;
  cells.bar.setAttribute("aria-label", `${name}: ${op.progress}%`);
  cells.bar.textContent = `${op.progress}%`;
  cells.percent.textContent = ` ${op.progress}%`;
  cells.started.textContent = time(op.startTime || op.insertTime);
  cells.ended.textContent =
    op.endTime === "" ? "" : `${time(op.endTime)} (${took(op.insertTime, op.endTime)})`;
  // Cancel is offered while it can work (before the insert is sent); the service says why not.
  const cancel = cells.actions.querySelector<HTMLButtonElement>("button.cancel");
  if (cancel !== null) cancel.hidden = op.status !== Operation_Status.PENDING;
  const result = cells.result;
  result.replaceChildren();
  if (failure !== undefined) {
    result.className = "failed";
    result.textContent = `${failure.code}: ${failure.message}`;
  } else if (op.status === Operation_Status.DONE) {
    result.className = "ok";
    const link = document.createElement("a");
    link.href = op.targetLink;
    link.textContent = op.targetLink;
    result.append(link);
  } else result.className = "";
  if (row.refusal !== undefined) {
    const note = document.createElement("div");
    note.className = "failed";
    note.textContent = `Not cancelled: ${row.refusal}`;
    result.append(note);
  }
  row.element.dataset["status"] = status;
  row.element.dataset["outcome"] = outcome;
  // A list filtered by outcome shows only that outcome, also once a row's operation moves on.
  const wanted = field("status").value;
  const search = field("search").value.trim().toLowerCase();
  row.element.hidden =
    (OUTCOMES.includes(wanted) && outcome !== wanted) ||
    (search !== "" && !name.toLowerCase().includes(search));
  if (detail?.name === op.name) detail.element.hidden = row.element.hidden;
  // Watched while on show and not DONE; a row hidden by the filter or search stops its stream.
  if (row.element.hidden) row.unwatch?.abort();
  else if (op.status !== Operation_Status.DONE) void watch(row, listing.signal);
}

function operationsBody(): HTMLTableSectionElement {
  const body = ($("operations") as HTMLTableElement).tBodies[0];
  if (body === undefined) throw new Error("the page has no operations table body");
  return body;
}

function button(text: string, label: string, onClick: () => void): HTMLButtonElement {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.setAttribute("aria-label", label);
  b.addEventListener("click", onClick);
  return b;
}

/** CancelOperation; a refusal (the insert was sent already, say) is shown with its reason. */
async function cancelOperation(name: string): Promise<void> {
  const row = rows.get(name);
  try {
    const op = await client.cancelOperation({ project, operation: name });
    if (row !== undefined) update(row, op);
  } catch (e) {
    if (row !== undefined) {
      row.refusal = ConnectError.from(e).rawMessage;
      render(row);
    }
  }
}

function addRow(op: Operation, first: boolean): Row {
  const existing = rows.get(op.name);
  if (existing !== undefined) return existing;
  const element = document.createElement("tr");
  element.dataset["operation"] = op.name;
  const image = element.insertCell();
  const nameCell = element.insertCell();
  nameCell.className = "name";
  const code = document.createElement("code");
  code.textContent = op.name;
  const copy = button("Copy", `Copy the operation name of ${imageOf(op)}`, () => {
    void navigator.clipboard.writeText(op.name).catch(() => {
      getSelection()?.selectAllChildren(code); // no clipboard here: selected, for Ctrl-C
    });
  });
  nameCell.append(code, " ", copy);
  const status = element.insertCell();
  const bar = Object.assign(document.createElement("progress"), { max: 100 });
  const percent = document.createElement("span");
  element.insertCell().append(bar, percent);
  const started = element.insertCell();
  started.className = "time";
  const ended = element.insertCell();
  ended.className = "time";
  const result = element.insertCell();
  const actions = element.insertCell();
  const details = button("Details", `Details of ${imageOf(op)}`, () => {
    if (detail?.name === op.name) closeDetail();
    else void showDetail(op.name);
  });
  details.classList.add("details");
  details.setAttribute("aria-expanded", "false");
  const cancel = button("Cancel", `Cancel the operation of ${imageOf(op)}`, () => {
    void cancelOperation(op.name);
  });
  cancel.classList.add("cancel");
  actions.append(details, " ", cancel);
  if (first) operationsBody().prepend(element);
  else operationsBody().append(element);
  const row: Row = {
    last: op,
    element,
    cells: { image, name: nameCell, status, bar, percent, started, ended, result, actions },
    watching: false,
  };
  rows.set(op.name, row);
  render(row);
  return row;
}

function update(row: Row, op: Operation): void {
  if (op.version <= row.last.version) return; // already shown (a resumed stream resends it)
  row.last = op;
  render(row);
  if (detail?.name === op.name && detail.recorded !== undefined) {
    const { versions } = detail.recorded;
    if (op.version > (versions.at(-1)?.version ?? 0)) versions.push(op);
    if (versions.length > 100) versions.splice(0, versions.length - 100); // as the service keeps
    renderDetail(row, detail.recorded);
  }
}

/**
 * At most this many watch streams at once. Over plain HTTP a browser opens six connections to a
 * host and an HTTP/1.1 stream holds one for as long as it lasts: the rest wait their turn, so
 * listing, creating and cancelling always find a free connection.
 */
const MAX_WATCHES = 4;
let watching = 0;
const waiting: { readonly resolve: (got: boolean) => void }[] = [];
/** A watch slot: at once while fewer than MAX_WATCHES are taken, else when one is released. */
function watchSlot(signal: AbortSignal): Promise<boolean> {
  if (watching < MAX_WATCHES) {
    watching += 1;
    return Promise.resolve(true);
  }
  return new Promise((resolve) => {
    const entry = { resolve };
    waiting.push(entry);
    signal.addEventListener(
      "abort",
      () => {
        const at = waiting.indexOf(entry);
        if (at !== -1) waiting.splice(at, 1);
        resolve(false);
      },
      { once: true },
    );
  });
}
/** Hands the slot to the next watch waiting for one, or frees it. */
function releaseSlot(): void {
  const next = waiting.shift();
  if (next === undefined) watching -= 1;
  else next.resolve(true);
}

/** How often a row waiting for a watch slot is read with GetOperation meanwhile. */
const WAITING_POLL_MS = 3000;

/**
 * A watch slot for `row`; while it waits for one, the row is kept current with GetOperation
 * every few seconds (and gives up waiting once DONE). False when there is nothing to watch.
 */
async function slotOrPoll(row: Row, signal: AbortSignal): Promise<boolean> {
  const stop = new AbortController();
  const both = AbortSignal.any([signal, stop.signal]);
  const slot = watchSlot(both);
  for (;;) {
    const got = await Promise.race([
      slot,
      sleep(WAITING_POLL_MS, both).then(
        () => "poll" as const,
        () => false,
      ),
    ]);
    if (got !== "poll") return got;
    try {
      update(row, await client.getOperation({ project, operation: row.last.name }, { signal }));
    } catch {
      // The watch, once it has a slot, reports what is wrong.
    }
    if (row.last.status === Operation_Status.DONE) {
      stop.abort(); // leaves the queue; a slot handed over meanwhile is given back
      if (await slot) releaseSlot();
      return false;
    }
  }
}

/**
 * Follows one operation to DONE; a broken stream reconnects with backoff and resumes. `signal`
 * (the list's) closes the stream when the list is replaced.
 */
async function watch(row: Row, listSignal: AbortSignal): Promise<void> {
  if (row.watching || listSignal.aborted) return;
  row.watching = true;
  const unwatch = new AbortController();
  row.unwatch = unwatch;
  const signal = AbortSignal.any([listSignal, unwatch.signal]);
  if (!(await slotOrPoll(row, signal))) {
    row.watching = false;
    return;
  }
  let failures = 0;
  /** A function, so that TypeScript does not narrow `signal.aborted` across the awaits. */
  const closed = () => signal.aborted;
  try {
    while (!closed() && row.last.status !== Operation_Status.DONE) {
      try {
        const stream = client.watchOperation({ project, operation: row.last.name }, { signal });
        for await (const op of stream) {
          update(row, op);
          failures = 0;
          setStreamStatus("");
        }
      } catch (e) {
        if (closed()) return;
        const error = ConnectError.from(e);
        if (error.code === Code.NotFound || error.code === Code.PermissionDenied) {
          setStreamStatus(`${row.last.name}: ${error.rawMessage}`);
          return;
        }
        setStreamStatus(
          `Connection lost (${error.code === Code.Unavailable ? "unavailable" : error.rawMessage}); reconnecting…`,
        );
        await sleep(backoffDelay(failures++, RECONNECT), signal).catch(() => undefined);
      }
    }
  } finally {
    row.watching = false;
    releaseSlot();
  }
}

function setStreamStatus(text: string): void {
  const status = $("stream-status");
  if (status.textContent !== text) status.textContent = text;
}

/** The page's state in its URL (project, filter, search, open operation), so a link can be shared. */
function saveState(): void {
  const params = new URLSearchParams();
  params.set("project", project);
  const status = field("status").value;
  if (status !== "") params.set("status", status);
  const search = field("search").value.trim();
  if (search !== "") params.set("q", search);
  if (detail !== undefined) params.set("op", detail.name);
  history.replaceState(null, "", `?${params.toString()}`);
}

let nextPage = "";

async function list(): Promise<void> {
  listing.abort();
  listing = new AbortController();
  const { signal } = listing;
  closeDetail(); // its section goes back to the page before the rows go
  rows.clear();
  operationsBody().replaceChildren();
  nextPage = "";
  saveState();
  await loadPage(signal);
  await searchFurther(signal);
}

/**
 * While a search shows fewer than a page of matches, the next pages are read until it does or
 * the list ends: a search covers every operation the service keeps, not only those loaded.
 */
async function searchFurther(signal: AbortSignal): Promise<void> {
  if (searchingFurther) return; // one at a time: the one under way reads the search as it goes
  searchingFurther = true;
  const shown = () => [...rows.values()].filter((r) => !r.element.hidden).length;
  try {
    while (
      field("search").value.trim() !== "" &&
      nextPage !== "" &&
      shown() < 50 &&
      !signal.aborted
    )
      if (!(await loadPage(signal))) return; // a refusal is shown; no retry storm
  } finally {
    searchingFurther = false;
  }
}
let searchingFurther = false;

/** One page of 50 (the first, or the one after the last shown), each row watched until DONE. */
async function loadPage(signal: AbortSignal): Promise<boolean> {
  const wanted = field("status").value;
  // An outcome is one of DONE's: the service lists DONE, and the page keeps that outcome.
  const status = OUTCOMES.includes(wanted) ? "DONE" : wanted;
  for (let attempt = 0; ; attempt++) {
    try {
      const page = await client.listOperations({
        project,
        maxResults: 50,
        pageToken: nextPage,
        ...(status !== "" && { status: Operation_Status[status as keyof typeof Operation_Status] }),
      });
      if (signal.aborted) return false;
      setStreamStatus("");
      for (const op of page.items) addRow(op, false); // each watched while on show
      nextPage = page.nextPageToken;
      $("more").hidden = nextPage === "";
      return true;
    } catch (e) {
      const error = ConnectError.from(e);
      setStreamStatus(`Could not list operations: ${error.rawMessage}`);
      if (error.code !== Code.Unavailable || signal.aborted) return false;
      const resumed = await sleep(backoffDelay(attempt, RECONNECT), signal).then(
        () => true,
        () => false,
      );
      if (!resumed) return false;
    }
  }
}

/**
 * Opens one operation's details under its row: what the service recorded of it
 * (GetOperationHistory), kept current as versions arrive. An operation not in the list (a shared
 * link to an older one) gets its row at the top first.
 */
async function showDetail(name: string): Promise<void> {
  const { signal } = listing;
  let recorded: OperationHistory;
  try {
    recorded = await client.getOperationHistory({ project, operation: name }, { signal });
  } catch (e) {
    if (!signal.aborted) setStreamStatus(`${name}: ${ConnectError.from(e).rawMessage}`);
    return;
  }
  if (signal.aborted) return; // the list was replaced meanwhile: its rows are gone
  let row = rows.get(name);
  const latest = recorded.versions.at(-1);
  if (row === undefined) {
    if (latest === undefined) return;
    row = addRow(latest, true);
  }
  closeDetail();
  const element = document.createElement("tr");
  element.className = "detail-row";
  const cell = element.insertCell();
  cell.colSpan = row.element.cells.length;
  cell.append($("detail"));
  row.element.after(element);
  detail = { name, element, recorded };
  element.hidden = row.element.hidden;
  $("detail").hidden = false;
  row.element.querySelector("button.details")?.setAttribute("aria-expanded", "true");
  if (latest !== undefined) update(row, latest);
  renderDetail(row, recorded);
  $("detail-heading").focus();
  saveState();
}

function closeDetail(): void {
  if (detail === undefined) return;
  rows
    .get(detail.name)
    ?.element.querySelector("button.details")
    ?.setAttribute("aria-expanded", "false");
  const section = $("detail");
  section.hidden = true;
  document.querySelector("main")?.append(section);
  detail.element.remove();
  detail = undefined;
  saveState();
}

/** A term and its description, for the details' list. */
function term(list: HTMLElement, name: string, value: string | Node): void {
  const dt = document.createElement("dt");
  dt.textContent = name;
  const dd = document.createElement("dd");
  dd.append(value);
  list.append(dt, dd);
}

function renderDetail(row: Row, recorded: OperationHistory): void {
  const op = row.last;
  $("detail-heading").textContent = `Details of ${imageOf(op)}`;
  const facts = $("detail-facts");
  facts.replaceChildren();
  const code = document.createElement("code");
  code.textContent = op.name;
  term(facts, "Operation", code);
  term(facts, "Outcome", outcomeOf(op));
  term(facts, "Compute operation", op.computeOperation || "not sent to Compute yet");
  term(facts, "Image", op.targetLink);
  if (op.user !== "") term(facts, "Requested by", op.user);
  term(facts, "Accepted", time(op.insertTime));
  if (op.startTime !== "")
    term(facts, "Started", `${time(op.startTime)} (queued ${took(op.insertTime, op.startTime)})`);
  if (op.endTime !== "")
    term(
      facts,
      "Ended",
      `${time(op.endTime)} (${op.startTime === "" ? "" : `ran ${took(op.startTime, op.endTime)}, `}${took(op.insertTime, op.endTime)} in all)`,
    );
  else term(facts, "Running for", took(op.insertTime, ""));

  // The error in full: every item, with Compute's structured details as it sent them.
  const errors = $("detail-errors");
  errors.replaceChildren(
    ...(op.error?.errors ?? []).map((e) => {
      const item = document.createElement("li");
      item.className = "failed";
      item.textContent = `${e.code}${e.location === "" ? "" : ` (at ${e.location})`}: ${e.message}`;
      for (const d of e.errorDetails) {
        const pre = document.createElement("pre");
        pre.textContent = toJsonString(Operation_ErrorDetailSchema, d, { prettySpaces: 2 });
        item.append(pre);
      }
      return item;
    }),
    ...op.warnings.map((w) => {
      const item = document.createElement("li");
      item.textContent = `Warning ${w.code}: ${w.message}`;
      return item;
    }),
  );
  errors.hidden = errors.childElementCount === 0;

  $("detail-request").textContent =
    recorded.request === undefined
      ? "The service no longer keeps this request."
      : toJsonString(CreateImageRequestSchema, recorded.request, { prettySpaces: 2 });

  const first = recorded.versions[0]?.version ?? 1;
  $("history-note").textContent =
    first > 1 ? `Versions 1 to ${first - 1} are no longer kept; the newest 100 are.` : "";
  fillTextTable($("history") as HTMLTableElement, VERSION_COLUMNS, recorded.versions);
}

/** The request the create form describes, as the gateway will receive it. */
function formRequest(): CreateImageRequest {
  const rawDisk = field("raw-disk").value.trim();
  const sourceImage = field("source-image").value.trim();
  return create(CreateImageRequestSchema, {
    project,
    image: {
      name: field("name").value.trim(),
      ...(rawDisk !== "" ? { rawDisk: { source: rawDisk } } : { sourceImage }),
    },
  });
}

/** Validates as you type, with libs/validation: the gateway's and the CLI's rules and words. */
function validateForm(): boolean {
  const violations = validateCreateImageRequest(formRequest());
  const about = (prefix: string) =>
    violations
      .filter((v) => v.field.startsWith(prefix))
      .map((v) => `${v.field}: ${v.description}`)
      .join(" ");
  const name = field("name");
  const nameProblem = name.value === "" ? "" : about("image.name");
  $("name-error").textContent = nameProblem;
  name.setAttribute("aria-invalid", String(nameProblem !== ""));
  $("source-error").textContent = [about("image.raw_disk"), about("image.source"), about("project")]
    .filter((t) => t !== "")
    .join(" ");
  return violations.length === 0;
}

$("name").addEventListener("input", validateForm);
$("source-image").addEventListener("input", validateForm);
$("raw-disk").addEventListener("input", validateForm);

$("create").addEventListener("submit", (event) => {
  event.preventDefault();
  const result = $("create-result");
  if (!validateForm()) {
    if (field("name").value === "") $("name-error").textContent = "image.name: is required";
    result.textContent = "Fix the fields above; nothing was sent.";
    return;
  }
  result.textContent = "Creating…";
  client.createImage(formRequest()).then(
    (op) => {
      result.textContent = `Operation ${op.name} accepted.`;
      addRow(op, true); // watched from here on
    },
    (e: unknown) => {
      result.textContent = `Refused: ${ConnectError.from(e).rawMessage}`;
    },
  );
});

/**
 * The pasted images.insert body as a request, or every problem with it: not JSON, a field that
 * Compute's Image does not have, or libs/validation's violations, each naming its field.
 */
function bodyRequest(): { request?: CreateImageRequest; problems: string[] } {
  const text = (document.getElementById("body") as HTMLTextAreaElement).value.trim();
  if (text === "") return { problems: [] };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { problems: [`not JSON: ${(e as Error).message}`] };
  }
  let image;
  try {
    image = fromJson(ImageSchema, json as JsonValue);
  } catch (e) {
    return { problems: [`not an images.insert body: ${(e as Error).message}`] };
  }
  const request = create(CreateImageRequestSchema, { project, image });
  const problems = validateCreateImageRequest(request).map((v) => `${v.field}: ${v.description}`);
  return { request, problems };
}

function validateBody(): CreateImageRequest | undefined {
  const { request, problems } = bodyRequest();
  $("body-errors").replaceChildren(
    ...problems.map((p) => {
      const item = document.createElement("li");
      item.textContent = p;
      return item;
    }),
  );
  $("body").setAttribute("aria-invalid", String(problems.length > 0));
  return problems.length === 0 ? request : undefined;
}

$("body").addEventListener("input", () => void validateBody());
$("create-body").addEventListener("submit", (event) => {
  event.preventDefault();
  const result = $("body-result");
  const request = validateBody();
  if (request === undefined) {
    result.textContent = "Fix the body; nothing was sent.";
    return;
  }
  result.textContent = "Creating…";
  client.createImage(request).then(
    (op) => {
      result.textContent = `Operation ${op.name} accepted.`;
      addRow(op, true); // watched from here on
    },
    (e: unknown) => {
      result.textContent = `Refused: ${ConnectError.from(e).rawMessage}`;
    },
  );
});

$("connection").addEventListener("submit", (event) => {
  event.preventDefault();
  project = field("project").value.trim();
  const token = field("token").value;
  if (token === "") sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
  void list();
});
$("status").addEventListener("change", () => void list());
$("close-detail").addEventListener("click", closeDetail);
$("more").addEventListener("click", () => void loadPage(listing.signal));
let searching: ReturnType<typeof setTimeout> | undefined;
$("search").addEventListener("input", () => {
  for (const row of rows.values()) render(row);
  saveState();
  // Once typing pauses, the pages not loaded yet are searched too.
  clearTimeout(searching);
  const { signal } = listing;
  searching = setTimeout(() => void searchFurther(signal), 300);
});

// A shared link opens the page as it was: its project, filter, search and open operation.
const shared = new URLSearchParams(location.search);
project = shared.get("project") ?? project;
field("project").value = project;
const sharedStatus = shared.get("status");
if (
  sharedStatus !== null &&
  [...(field("status") as HTMLSelectElement).options].some((o) => o.value === sharedStatus)
)
  field("status").value = sharedStatus;
field("search").value = shared.get("q") ?? "";
field("token").value = sessionStorage.getItem(TOKEN_KEY) ?? "";
const families = initFamilyView(client, () => project);
void list().then(() => {
  const open = shared.get("op");
  if (open !== null) void showDetail(open);
});
const sharedFamily = shared.get("family");
if (sharedFamily !== null) void families.show(sharedFamily);
