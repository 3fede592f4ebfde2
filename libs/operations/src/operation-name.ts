import { randomUUID } from "node:crypto";

/**
 * A new operation name: `operation-<ms>-<32 hex>`. The time keeps names roughly sortable for
 * people; the hex is a UUID v4's (122 random bits), which makes a name unguessable, so knowing
 * one is no way to find another. `randomUUID` draws from a cached pool of entropy; a
 * `randomBytes` call per name would be a system call per CreateImage.
 */
export function newOperationName(now: Date): string {
  return `operation-${String(now.getTime())}-${randomUUID().replaceAll("-", "")}`;
}

/** What a name this gateway issued looks like; anything else cannot exist. */
export const OPERATION_NAME = /^operation-\d{1,15}-[0-9a-f]{32}$/;
