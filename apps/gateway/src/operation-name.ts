import { randomBytes } from "node:crypto";

/**
 * A new operation name: `operation-<ms>-<32 hex>`. The time keeps names roughly sortable for
 * people; the 128 random bits make a name unguessable, so knowing one is no way to find another.
 */
export function newOperationName(now: Date): string {
  return `operation-${now.getTime()}-${randomBytes(16).toString("hex")}`;
}

/** What a name this gateway issued looks like; anything else cannot exist. */
export const OPERATION_NAME = /^operation-\d{1,15}-[0-9a-f]{32}$/;
