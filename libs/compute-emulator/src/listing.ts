import { invalid } from "./compute-error";

const FILTER = /^\s*(\w+)\s*(=|!=|eq|ne)\s*(.+?)\s*$/;

/**
 * Compute's list `filter`, for the forms tests and tools use: `name = "web"`, `name != web`,
 * `name eq "web-.*"` (an RE2 regular expression matching the whole value), `status = DONE`.
 */
export function applyFilter<T extends Record<string, unknown>>(
  items: T[],
  filter: string | null,
): T[] {
  if (filter === null || filter.trim() === "") return items;
  const match = FILTER.exec(filter);
  if (match === null) throw invalid(`Invalid list filter expression '${filter}'.`);
  const [, field = "", op = "", rawValue = ""] = match;
  const value = rawValue.replace(/^"(.*)"$/, "$1");
  let test: (v: unknown) => boolean;
  if (op === "eq" || op === "ne") {
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${value})$`);
    } catch {
      throw invalid(`Invalid list filter expression '${filter}'.`);
    }
    test = (v) => re.test(String(v));
  } else {
    test = (v) => String(v) === value;
  }
  const keep = op === "=" || op === "eq";
  return items.filter((item) => test(item[field]) === keep);
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
