import { quote } from "./field-violation";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NIL_UUID = "00000000-0000-0000-0000-000000000000";

/**
 * Explains why `value` cannot be a Compute `requestId`, or returns undefined. Compute wants a UUID
 * and refuses the all-zero one; the service hands the same id to every retry of an insert, which
 * is what makes retries safe.
 */
export function checkRequestId(value: string): string | undefined {
  if (value === NIL_UUID)
    return "the all-zero UUID is not accepted by Compute; use a random UUID (v4), or leave request_id empty";
  if (UUID.test(value)) return undefined;
  return `${quote(value)} is not a UUID; use a random UUID such as "3f1c2a9e-8d7b-4c6a-9e5f-1a2b3c4d5e6f", or leave request_id empty`;
}
