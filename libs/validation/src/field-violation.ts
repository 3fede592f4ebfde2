/**
 * One problem with one field of a request, as `google.rpc.BadRequest.FieldViolation` carries it.
 *
 * `field` is a path in proto field names (`image.raw_disk.source`, `image.guest_os_features[1].type`,
 * `image.labels["env"]`), so it points at the same place in every client language. `description`
 * says what is wrong and what a valid value looks like, so that a person can fix it unaided.
 */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

/** The Unicode code points of `value`: what Compute counts as characters in names and labels. */
export function codePoints(value: string): string[] {
  return Array.from(value);
}

/** Quotes a user-supplied value for a message, cut short so a huge value cannot flood logs. */
export function quote(value: string, max = 80): string {
  const chars = codePoints(value);
  const shown = chars.length > max ? `${chars.slice(0, max).join("")}…` : value;
  return JSON.stringify(shown);
}
