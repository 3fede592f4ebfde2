import { Operation_Status, type Notification as NotificationMessage } from "@imagesvc/proto";
import type { Notification } from "@imagesvc/queue";

/** A request's webhook as its record keeps it: the statuses it announces (DONE when none given). */
export function notificationOf(hook: NotificationMessage | undefined): Notification | undefined {
  if (hook === undefined) return undefined;
  return {
    url: hook.url,
    on: (hook.on.length === 0 ? [Operation_Status.DONE] : hook.on).map((st) =>
      st === Operation_Status.RUNNING ? ("RUNNING" as const) : ("DONE" as const),
    ),
  };
}
