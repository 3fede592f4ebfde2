import { invalid } from "./compute-error";

/**
 * Compute's list `filter`: comparisons `field OP value` (OP one of `= != > < >= <= :`, a field
 * nested with dots such as `labels.env` or `deprecated.state`, a value bare or quoted, `*` a
 * wildcard in `=`, `!=` and `:`, and `field:*` true when the field is set), joined by `AND`
 * (or a space), `OR` and `NOT`, with parentheses: `family = web AND -deprecated.state:*`. Also
 * the older single form `name eq "web-.*"` / `ne`, an RE2 expression matching the whole value.
 * An expression it cannot read is 400 `invalid`, as Compute answers.
 */
export function applyFilter<T extends Record<string, unknown>>(
  items: T[],
  filter: string | null,
): T[] {
  if (filter === null || filter.trim() === "") return items;
  const test = parseFilter(filter);
  return items.filter((item) => test(item));
}

type Test = (item: Record<string, unknown>) => boolean;

const TOKEN = /\s*(?:("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(>=|<=|!=|[=<>:()])|([^\s=<>:()!"']+))/y;

function parseFilter(filter: string): Test {
  const bad = () => invalid(`Invalid list filter expression '${filter}'.`);
  const tokens: { text: string; quoted: boolean }[] = [];
  TOKEN.lastIndex = 0;
  for (;;) {
    if (/^\s*$/.test(filter.slice(TOKEN.lastIndex))) break;
    const m = TOKEN.exec(filter);
    if (m === null) throw bad();
    const [, quoted, op, word] = m;
    if (quoted !== undefined) tokens.push({ text: unquote(quoted), quoted: true });
    else tokens.push({ text: op ?? word ?? "", quoted: false });
  }
  let at = 0;
  const peek = () => tokens[at];
  const isWord = (word: string) => peek()?.quoted === false && peek()?.text === word;

  // AIP-160's precedence: OR binds tighter than AND, written or implied (`a b OR c` is
  // `a AND (b OR c)`).
  const and = (): Test => {
    let left = or();
    for (;;) {
      if (isWord("AND")) at++;
      else if (peek() === undefined || isWord(")")) return left;
      const l = left;
      const r = or();
      left = (item) => l(item) && r(item);
    }
  };
  const or = (): Test => {
    let left = unary();
    while (isWord("OR")) {
      at++;
      const l = left;
      const r = unary();
      left = (item) => l(item) || r(item);
    }
    return left;
  };
  const unary = (): Test => {
    if (isWord("NOT")) {
      at++;
      const inner = unary();
      return (item) => !inner(item);
    }
    const t = peek();
    if (t !== undefined && !t.quoted && t.text.startsWith("-") && t.text.length > 1) {
      tokens[at] = { text: t.text.slice(1), quoted: false };
      const inner = comparison();
      return (item) => !inner(item);
    }
    if (isWord("(")) {
      at++;
      const inner = and();
      if (!isWord(")")) throw bad();
      at++;
      return inner;
    }
    return comparison();
  };
  const comparison = (): Test => {
    const field = tokens[at++];
    const op = tokens[at++];
    const value = tokens[at++];
    if (field === undefined || field.quoted || op === undefined || op.quoted || value === undefined)
      throw bad();
    if (!/^[A-Za-z_][\w.-]*$/.test(field.text) || (!value.quoted && /^[()=<>:!]/.test(value.text)))
      throw bad();
    const get = (item: Record<string, unknown>) => fieldOf(item, field.text);
    return compare(op.text, value.text, get, bad);
  };
  const test = and();
  if (at !== tokens.length) throw bad();
  return test;
}

function compare(
  op: string,
  value: string,
  get: (item: Record<string, unknown>) => unknown,
  bad: () => Error,
): Test {
  const matches = (v: unknown) => glob(value).test(scalar(v));
  const any = (v: unknown, f: (x: unknown) => boolean) => (Array.isArray(v) ? v.some(f) : f(v));
  switch (op) {
    case "=":
      return (item) => any(get(item), (v) => v !== undefined && matches(v));
    case "!=":
      return (item) => !any(get(item), (v) => v !== undefined && matches(v));
    case ":":
      // `field:*` is set; `map:key` has the key (`labels:env`); otherwise a match, as `=`.
      return value === "*"
        ? (item) => get(item) !== undefined
        : (item) => {
            const v = get(item);
            if (typeof v === "object" && v !== null && !Array.isArray(v))
              return Object.hasOwn(v, value);
            return any(v, (x) => x !== undefined && matches(x));
          };
    case ">":
    case "<":
    case ">=":
    case "<=":
      return (item) => {
        const v = get(item);
        if (v === undefined || typeof v === "object") return false;
        const order = ordered(scalar(v), value);
        return op === ">"
          ? order > 0
          : op === "<"
            ? order < 0
            : op === ">="
              ? order >= 0
              : order <= 0;
      };
    case "eq":
    case "ne": {
      let re: RegExp;
      try {
        re = new RegExp(`^(?:${value})$`);
      } catch {
        throw bad();
      }
      const keep = op === "eq";
      return (item) => re.test(scalar(get(item) ?? "")) === keep;
    }
    default:
      throw bad();
  }
}

/** A value by its dotted path: `labels.env`, `deprecated.state`. */
function fieldOf(item: Record<string, unknown>, path: string): unknown {
  let value: unknown = item;
  for (const key of path.split(".")) {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

const scalar = (v: unknown) =>
  typeof v === "object" && v !== null ? JSON.stringify(v) : String(v);
const unquote = (q: string) => q.slice(1, -1).replace(/\\(.)/g, "$1");
/** `web-*` matches `web-1`: `*` is any run of characters, the rest as it is. */
const glob = (pattern: string) =>
  new RegExp(
    `^${pattern
      .split("*")
      .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
      .join(".*")}$`,
  );
/** Numbers by value, anything else (RFC 3339 times included) as text. */
function ordered(a: string, b: string): number {
  const x = Number(a);
  const y = Number(b);
  if (a !== "" && b !== "" && Number.isFinite(x) && Number.isFinite(y)) return x - y;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Compute's list `orderBy`: `name` (the default) or `creationTimestamp desc`
 * (newest first); anything else is 400, as Compute answers.
 */
export function applyOrder<T extends Record<string, unknown>>(
  items: T[],
  orderBy: string | null,
): T[] {
  if (orderBy === null || orderBy.trim() === "" || orderBy.trim() === "name")
    return [...items].sort((a, b) => ordered(scalar(a["name"]), scalar(b["name"])));
  // Newest first; within one millisecond, the later inserted first, as getFromFamily picks.
  if (/^creationTimestamp\s+desc$/.test(orderBy.trim()))
    return items
      .map((item, at) => ({ item, at }))
      .sort((a, b) => {
        const x = scalar(a.item["creationTimestamp"]);
        const y = scalar(b.item["creationTimestamp"]);
        return x < y ? 1 : x > y ? -1 : b.at - a.at;
      })
      .map(({ item }) => item);
  throw invalid(
    `Invalid value for field 'orderBy': '${orderBy}'. Compute sorts by 'name' or 'creationTimestamp desc'.`,
  );
}

/** One page of `items` under Compute's `maxResults` (0-500, default 500) and an opaque `pageToken`. */
export function page<T>(
  items: T[],
  maxResults: string | null,
  pageToken: string | null,
): { items: T[]; nextPageToken?: string } {
  const size = maxResults === null || maxResults === "" ? 500 : Number(maxResults);
  if (!Number.isInteger(size) || size < 0 || size > 500) {
    throw invalid(
      `Invalid value for field 'maxResults': '${String(maxResults)}'. Must be in the range [0, 500].`,
    );
  }
  const effective = size === 0 ? 500 : size;
  let start = 0;
  if (pageToken !== null && pageToken !== "") {
    start = Number(Buffer.from(pageToken, "base64url").toString());
    if (!Number.isInteger(start) || start < 0)
      throw invalid("Invalid value for field 'pageToken'.");
  }
  const slice = items.slice(start, start + effective);
  const next = start + effective;
  return next < items.length
    ? { items: slice, nextPageToken: Buffer.from(String(next)).toString("base64url") }
    : { items: slice };
}
