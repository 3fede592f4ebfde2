import { codePoints, quote } from "./field-violation";

/**
 * The RFC 1035 pattern Compute uses for image names, families, licenses and most resources:
 * 1-63 characters, a lowercase letter first, then lowercase letters, digits or hyphens, and no
 * hyphen last.
 */
export const RESOURCE_NAME = /^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$/;

const NAME_RULE =
  "1-63 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen";

/**
 * Explains why `value` is not a valid resource name, or returns undefined when it is one.
 * `what` names the thing in the message ("image name", "family"), `example` shows a valid one.
 */
export function checkResourceName(
  value: string,
  what: string,
  example: string,
): string | undefined {
  if (RESOURCE_NAME.test(value)) return undefined;
  return `${describeNameProblem(value, 63)}. A valid ${what} has ${NAME_RULE}, e.g. "${example}"`;
}

/** Says what is wrong with a name that breaks the RFC 1035 pattern, most useful problem first. */
export function describeNameProblem(value: string, max: number): string {
  const length = codePoints(value).length;
  if (length === 0) return "is required";
  if (length > max)
    return `${quote(value, 20)} is ${length} character${length === 1 ? "" : "s"} long; the limit is ${max}`;
  const lower = value.toLowerCase();
  if (lower !== value && /[A-Z]/.test(value)) {
    const hint = RESOURCE_NAME.test(lower) ? `; use "${lower}"` : "; use lowercase";
    return `${quote(value)} has uppercase letters${hint}`;
  }
  const bad = codePoints(value).find((c) => !/[-a-z0-9]/.test(c));
  if (bad !== undefined) return `${quote(value)} contains ${quote(bad)}, which is not allowed`;
  if (!/^[a-z]/.test(value)) return `${quote(value)} must start with a lowercase letter`;
  return `${quote(value)} must not end with a hyphen`;
}
