import { quote, type FieldViolation } from "./field-violation";

/** Compute allows at most this many labels on a resource. */
export const MAX_LABELS = 64;
/**
 * The label the service puts on every image it creates, with the request id as its value: the
 * proof that an image is this request's when Compute's own answer was lost (libs/lifecycle).
 * Requests may not set it, and it takes one of Compute's label slots.
 */
export const OWNERSHIP_LABEL = "imagesvc-request-id";
/** Keys: 1-63 characters; a lowercase or international letter first. */
const LABEL_KEY = /^[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]{0,62}$/u;
/** Values: 0-63 characters of the same alphabet, any first. */
const LABEL_VALUE = /^[\p{Ll}\p{Lo}\p{N}_-]{0,63}$/u;

const ALPHABET = "lowercase letters (international ones too), digits, underscores and hyphens";

/** The path of one label, as in `image.labels["env"]`. */
export function labelPath(base: string, key: string): string {
  return `${base}[${JSON.stringify(key)}]`;
}

/** Compute's label rules: count, key and value. Reports each bad label at its own path. */
export function checkLabels(
  base: string,
  labels: Readonly<Record<string, string>>,
  reserved: readonly string[] = [],
): FieldViolation[] {
  const violations: FieldViolation[] = [];
  const entries = Object.entries(labels);
  const max = MAX_LABELS - reserved.length;
  if (entries.length > max) {
    violations.push({
      field: base,
      description:
        `has ${entries.length} labels; at most ${max} are allowed` +
        (reserved.length > 0
          ? ` (Compute allows ${MAX_LABELS}, and the service sets ${reserved.join(", ")})`
          : ""),
    });
  }
  for (const [key, value] of entries) {
    if (reserved.includes(key)) {
      violations.push({
        field: labelPath(base, key),
        description: `the key ${quote(key)} is reserved: the service sets it on every image it creates; remove it`,
      });
      continue;
    }
    const problems: string[] = [];
    if (!LABEL_KEY.test(key)) {
      problems.push(
        `the key ${quote(key)} must be 1-63 ${ALPHABET}, starting with a lowercase letter` +
          (key.toLowerCase() !== key ? ` (try ${quote(key.toLowerCase())})` : ""),
      );
    }
    if (!LABEL_VALUE.test(value)) {
      problems.push(`the value ${quote(value)} must be 0-63 ${ALPHABET}`);
    }
    if (problems.length > 0)
      violations.push({ field: labelPath(base, key), description: problems.join("; ") });
  }
  return violations;
}
