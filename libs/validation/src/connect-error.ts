import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema } from "@imagesvc/proto";
import type { FieldViolation } from "./field-violation";

/**
 * Turns violations into the INVALID_ARGUMENT error the RPC edge returns: the message lists every
 * violation for people and plain-JSON clients, and a `google.rpc.BadRequest` detail carries them
 * field by field for programs.
 */
export function invalidArgument(violations: readonly FieldViolation[]): ConnectError {
  const summary = violations.map((v) => `${v.field}: ${v.description}`).join("\n");
  return new ConnectError(`invalid request:\n${summary}`, Code.InvalidArgument, undefined, [
    {
      desc: BadRequestSchema,
      value: {
        fieldViolations: violations.map((v) => ({ field: v.field, description: v.description })),
      },
    },
  ]);
}
