// The operations console: a project's operations, newest first, each moving live as versions
// arrive; a create form, and a box for a whole images.insert body, that validate as you type
// with libs/validation itself. It talks to the gateway that serves it, with Connect (ListOperations, WatchOperation, CreateImage): no API of
// its own. Streams that break (a gateway restart) reconnect and resume from the last version.
import { create, fromJson, type JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import {
  CreateImageRequestSchema,
  ImageSchema,
  ImageService,
  Operation_Status,
  type CreateImageRequest,
  type Operation,
} from "@imagesvc/proto";
import { backoffDelay, sleep } from "@imagesvc/runtime";
import { validateCreateImageRequest } from "@imagesvc/validation";

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
  readonly status: HTMLTableCellElement;
  readonly bar: HTMLProgressElement;
  readonly started: HTMLTableCellElement;
  readonly ended: HTMLTableCellElement;
  readonly result: HTMLTableCellElement;
}
interface Row {
  last: Operation;
  readonly history: Operation[];
  readonly element: HTMLTableRowElement;
  readonly cells: Cells;
  watching: boolean;
}
const rows = new Map<string, Row>();
let project = "my-project";
/** The shown list's watches: a new list aborts them all, so no stream outlives its row. */
let listing = new AbortController();

const imageOf = (op: Operation) => op.targetLink.slice(op.targetLink.lastIndexOf("/") + 1);
const time = (iso: string) => (iso === "" ? "" : new Date(iso).toLocaleTimeString());

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
  cells.started.textContent = time(op.startTime || op.insertTime);
  cells.ended.textContent = time(op.endTime);
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
  row.element.dataset["status"] = status;
  row.element.dataset["outcome"] = outcome;
  // A list filtered by outcome shows only that outcome, also once a row's operation moves on.
  const wanted = field("status").value;
  row.element.hidden = OUTCOMES.includes(wanted) && outcome !== wanted;
}

function operationsBody(): HTMLTableSectionElement {
  const body = ($("operations") as HTMLTableElement).tBodies[0];
  if (body === undefined) throw new Error("the page has no operations table body");
  return body;
}

function addRow(op: Operation, first: boolean): Row {
  const existing = rows.get(op.name);
  if (existing !== undefined) return existing;
  const element = document.createElement("tr");
  element.dataset["operation"] = op.name;
  const image = element.insertCell();
  const status = element.insertCell();
  const bar = Object.assign(document.createElement("progress"), { max: 100 });
  element.insertCell().append(bar);
  const started = element.insertCell();
  const ended = element.insertCell();
  const result = element.insertCell();
  const show = document.createElement("button");
  show.type = "button";
  show.textContent = "History";
  show.setAttribute("aria-label", `History of ${imageOf(op)}`);
  show.addEventListener("click", () => {
    showHistory(op.name);
  });
  element.insertCell().append(show);
  if (first) operationsBody().prepend(element);
  else operationsBody().append(element);
  const row: Row = {
    last: op,
    history: [op],
    element,
    cells: { image, status, bar, started, ended, result },
    watching: false,
  };
  rows.set(op.name, row);
  render(row);
  return row;
}

function update(row: Row, op: Operation): void {
  if (op.version <= row.last.version) return; // already shown (a resumed stream resends it)
  row.last = op;
  row.history.push(op);
  render(row);
  if (!$("detail").hidden && $("detail").dataset["operation"] === op.name) showHistory(op.name);
}

/**
 * Follows one operation to DONE; a broken stream reconnects with backoff and resumes. `signal`
 * (the list's) closes the stream when the list is replaced.
 */
async function watch(row: Row, signal: AbortSignal): Promise<void> {
  if (row.watching) return;
  row.watching = true;
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
        await sleep(backoffDelay(failures++, RECONNECT));
      }
    }
  } finally {
    row.watching = false;
  }
}

function setStreamStatus(text: string): void {
  const status = $("stream-status");
  if (status.textContent !== text) status.textContent = text;
}

async function list(): Promise<void> {
  listing.abort();
  listing = new AbortController();
  const { signal } = listing;
  rows.clear();
  operationsBody().replaceChildren();
  const wanted = field("status").value;
  for (let attempt = 0; ; attempt++) {
    try {
      // An outcome is one of DONE's: the service lists DONE, and the page keeps that outcome.
      const status = OUTCOMES.includes(wanted) ? "DONE" : wanted;
      const page = await client.listOperations({
        project,
        maxResults: 50,
        ...(status !== "" && { status: Operation_Status[status as keyof typeof Operation_Status] }),
      });
      if (signal.aborted) return;
      setStreamStatus("");
      for (const op of page.items) void watch(addRow(op, false), signal);
      return;
    } catch (e) {
      const error = ConnectError.from(e);
      setStreamStatus(`Could not list operations: ${error.rawMessage}`);
      if (error.code !== Code.Unavailable || signal.aborted) return;
      await sleep(backoffDelay(attempt, RECONNECT));
    }
  }
}

function showHistory(name: string): void {
  const row = rows.get(name);
  if (row === undefined) return;
  const detail = $("detail");
  const wasHidden = detail.hidden;
  detail.hidden = false;
  detail.dataset["operation"] = name;
  $("detail-heading").textContent = `History of ${imageOf(row.last)} (${name})`;
  $("history").replaceChildren(
    ...row.history.map((op) => {
      const item = document.createElement("li");
      const failure = op.error?.errors[0];
      item.textContent = `v${op.version} ${Operation_Status[op.status]} ${op.progress}%${op.statusMessage ? ` — ${op.statusMessage}` : ""}${failure ? ` — ${failure.code}: ${failure.message}` : ""}`;
      return item;
    }),
  );
  if (wasHidden) $("detail-heading").focus();
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
      void watch(addRow(op, true), listing.signal);
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
      void watch(addRow(op, true), listing.signal);
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
$("close-detail").addEventListener("click", () => {
  $("detail").hidden = true;
});

field("token").value = sessionStorage.getItem(TOKEN_KEY) ?? "";
void list();
