import { codePoints, quote } from "./field-violation";

/** A Cloud project id: 6-30 characters, a lowercase letter first, no hyphen last. */
const PROJECT_ID = /^[a-z][-a-z0-9]{4,28}[a-z0-9]$/;
/** The domain of a legacy domain-scoped project id, such as `example.com` in `example.com:app`. */
const DOMAIN = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)+$/;

const RULE =
  "A project id has 6-30 lowercase letters, digits or hyphens, starts with a letter and does not " +
  'end with a hyphen, e.g. "my-project"; a legacy domain-scoped id looks like "example.com:my-project"';

/** True for `my-project` and for legacy domain-scoped ids such as `example.com:my-project`. */
export function isProjectId(value: string): boolean {
  const colon = value.lastIndexOf(":");
  if (colon === -1) return PROJECT_ID.test(value);
  return DOMAIN.test(value.slice(0, colon)) && PROJECT_ID.test(value.slice(colon + 1));
}

/** Explains why `value` is not a project id, or returns undefined when it is one. */
export function checkProjectId(value: string): string | undefined {
  if (isProjectId(value)) return undefined;
  if (value === "") return `is required. ${RULE}`;
  const colon = value.lastIndexOf(":");
  const id = colon === -1 ? value : value.slice(colon + 1);
  if (colon !== -1 && !DOMAIN.test(value.slice(0, colon))) {
    return `${quote(value)} has an invalid domain ${quote(value.slice(0, colon))}. ${RULE}`;
  }
  const length = codePoints(id).length;
  let problem: string;
  if (length < 6 || length > 30)
    problem = `${quote(id)} is ${length} character${length === 1 ? "" : "s"} long`;
  else if (id.toLowerCase() !== id) problem = `${quote(id)} has uppercase letters`;
  else if (!/^[a-z]/.test(id)) problem = `${quote(id)} must start with a lowercase letter`;
  else if (id.endsWith("-")) problem = `${quote(id)} must not end with a hyphen`;
  else
    problem = `${quote(id)} contains characters other than lowercase letters, digits and hyphens`;
  return `${problem}. ${RULE}`;
}
