import { quote } from "./field-violation";

const HTTPS_PREFIX = "https://storage.googleapis.com/";
const EXAMPLE = "https://storage.googleapis.com/my-bucket/images/disk.tar.gz";

/**
 * Explains why `value` is not a Cloud Storage URL that Compute accepts as `rawDisk.source`, or
 * returns undefined when it is one. Compute takes only `https://storage.googleapis.com/BUCKET/OBJECT`
 * and answers a `gs://` URL with a cryptic `resource.id` error, so we say which URL to use instead.
 *
 * The one check of this field, and a security one: the gateway authorizes the bucket written
 * first in the path (`namedResources`), so the bucket read must be that one. A URL parser
 * resolves `..` and `.` segments (also as `%2e`), reads `\` as `/`, and drops tabs, line breaks
 * and a trailing space; a server may decode `%2F` and `%5C` into separators. Any of them could
 * move the read into another bucket (`bucket-a/../bucket-b/disk.tar.gz`), so each is refused,
 * with the URL it resolves to where a parser would resolve it.
 */
export function checkRawDiskSource(value: string): string | undefined {
  if (value.startsWith("gs://")) {
    return `Compute does not accept gs:// URLs; use "${HTTPS_PREFIX}${value.slice("gs://".length)}"`;
  }
  if (!value.startsWith(HTTPS_PREFIX)) {
    return (
      `${quote(value)} is not a Cloud Storage URL. Use the archive's full URL ` +
      `https://storage.googleapis.com/BUCKET/OBJECT, e.g. "${EXAMPLE}"`
    );
  }
  const path = value.slice(HTTPS_PREFIX.length);
  const pathProblem = checkPath(value, path);
  if (pathProblem !== undefined) return pathProblem;
  const slash = path.indexOf("/");
  const bucket = slash === -1 ? path : path.slice(0, slash);
  const object = slash === -1 ? "" : path.slice(slash + 1);
  const bucketProblem = checkBucketName(bucket);
  if (bucketProblem !== undefined) return `the bucket ${quote(bucket)} ${bucketProblem}`;
  if (object === "") {
    return `names the bucket ${quote(bucket)} but no object; add the archive's name, e.g. "${HTTPS_PREFIX}${bucket}/disk.tar.gz"`;
  }
  const objectProblem = checkObjectName(object);
  if (objectProblem !== undefined) return `the object ${quote(object)} ${objectProblem}`;
  return undefined;
}

/** A `.` or `..` segment as URL parsers read it: `%2e` is a dot to them (WHATWG URL). */
const isDotSegment = (segment: string) => /^(?:\.|%2e){1,2}$/i.test(segment);
/** Encoded separators: `%2F` and `%5C` become a slash and a backslash to a reader that decodes. */
const ENCODED_SEPARATOR = /%2f|%5c/i;
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Refuses what would let the bucket read differ from the bucket named: `path` is `value` after
 * `https://storage.googleapis.com/`. Web APIs only (`URL`): this runs in browsers too.
 */
function checkPath(value: string, path: string): string | undefined {
  const risk = "so the archive read could be in another bucket than the one named";
  const fix = 'name the archive by its plain path, BUCKET/FOLDER/OBJECT, with "/" between folders';
  /** Where a URL parser takes `value`, when that is somewhere else. */
  const resolved = () => {
    const href = new URL(value).href;
    return href === value ? "" : ` (it resolves to ${quote(href, 200)})`;
  };
  if (CONTROL.test(path))
    return `contains a tab, line break or other control character, which URL parsers drop or rewrite, ${risk}; remove it and ${fix}`;
  if (path.endsWith(" "))
    return `ends with a space, which URL parsers drop, ${risk}; write a trailing space as %20, or remove it`;
  if (path.includes("\\"))
    return `contains a backslash, which URL parsers read as "/", ${risk}${resolved()}; ${fix}`;
  const encoded = ENCODED_SEPARATOR.exec(path)?.[0];
  if (encoded !== undefined) {
    const what = encoded.toLowerCase() === "%2f" ? "slash" : "backslash";
    return `contains ${quote(encoded)}, an encoded ${what} that a reader may decode into a separator, ${risk}; ${fix}`;
  }
  const dots = path.split("/").find(isDotSegment);
  if (dots !== undefined)
    return `has a ${quote(dots)} path segment, which URL parsers resolve, ${risk}${resolved()}; ${fix}, without "." or ".." segments`;
  return undefined;
}

/** libs/validation runs in browsers too (the console): Web APIs only, no Buffer. */
const UTF8 = new TextEncoder();

const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;

/** Cloud Storage's bucket naming rules; returns what is wrong, or undefined. */
export function checkBucketName(bucket: string): string | undefined {
  const rule =
    "(3-63 lowercase letters, digits, hyphens, underscores or dots, starting and ending with a letter or digit)";
  if (bucket === "") return `is missing ${rule}`;
  if (!/^[a-z0-9._-]+$/.test(bucket))
    return `may only contain lowercase letters, digits, hyphens, underscores and dots ${rule}`;
  if (!/^[a-z0-9]/.test(bucket) || !/[a-z0-9]$/.test(bucket))
    return `must start and end with a letter or digit ${rule}`;
  const parts = bucket.split(".");
  if (parts.length === 1 && (bucket.length < 3 || bucket.length > 63))
    return `is ${bucket.length} characters long ${rule}`;
  if (parts.length > 1) {
    if (bucket.length > 222) return "is longer than 222 characters";
    if (parts.some((p) => p.length === 0 || p.length > 63))
      return "has a dot-separated part that is empty or longer than 63 characters";
  }
  if (IPV4.test(bucket)) return "must not be an IP address";
  if (bucket.startsWith("goog")) return 'must not start with "goog"';
  if (/g[o0]{2}gle/.test(bucket)) return 'must not contain "google" or a look-alike';
  return undefined;
}

/** Cloud Storage's object naming rules; returns what is wrong, or undefined. */
function checkObjectName(object: string): string | undefined {
  if (UTF8.encode(object).length > 1024) return "is longer than 1024 bytes";
  if (/[?#]/.test(object)) return "must not contain ? or #; percent-encode them as %3F and %23";
  return undefined;
}
