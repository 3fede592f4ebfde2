import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema } from "@imagesvc/proto";
import { codePoints, type FieldViolation } from "./field-violation";

/**
 * How much of a validation failure one error carries. The message and the `google.rpc.BadRequest`
 * detail travel in gRPC trailers, where clients cap metadata (grpc-js at 8 KB by default): an
 * error must stay a few KB whatever the request, or a bad request breaks the call instead of
 * being explained.
 */
export const ERROR_LIMITS = {
  /** Violations listed; the rest are counted in one last entry. */
  violations: 20,
  /** Characters of a field path, and of a description. */
  field: 120,
  description: 240,
} as const;

const cut = (text: string, max: number) => {
  const chars = codePoints(text);
  return chars.length > max ? `${chars.slice(0, max - 1).join("")}…` : text;
};

/**
 * Turns violations into the INVALID_ARGUMENT error the RPC edge returns: the message lists every
 * violation for people and plain-JSON clients, and a `google.rpc.BadRequest` detail carries them
 * field by field for programs. At most `ERROR_LIMITS.violations` are listed, each cut to length;
 * a last entry says how many more there are.
 */
export function invalidArgument(violations: readonly FieldViolation[]): ConnectError {
  const listed = violations.slice(0, ERROR_LIMITS.violations).map((v) => ({
    field: cut(v.field, ERROR_LIMITS.field),
    description: cut(v.description, ERROR_LIMITS.description),
  }));
  const more = violations.length - listed.length;
  if (more > 0)
    listed.push({
      field: "request",
      description: `has ${more} more violations, not listed; fix these and send it again`,
    });
  const summary = listed.map((v) => `${v.field}: ${v.description}`).join("\n");
  return new ConnectError(`invalid request:\n${summary}`, Code.InvalidArgument, undefined, [
    { desc: BadRequestSchema, value: { fieldViolations: listed } },
  ]);
}
