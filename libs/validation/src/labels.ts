import { quote, type FieldViolation } from "./field-violation";

/** Compute allows at most this many labels on a resource. */
export const MAX_LABELS = 64;
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
): FieldViolation[] {
  const violations: FieldViolation[] = [];
  const entries = Object.entries(labels);
  if (entries.length > MAX_LABELS) {
    violations.push({
      field: base,
      description: `has ${entries.length} labels; Compute allows at most ${MAX_LABELS}`,
    });
  }
  for (const [key, value] of entries) {
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
