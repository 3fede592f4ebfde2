import { toJson } from "@bufbuild/protobuf";
import { Operation_Status, OperationSchema, type Operation } from "@imagesvc/proto";
import { deliveryFor, type Notification, type WebhookQueue } from "@imagesvc/queue";

const STATUS_ORDER = { RUNNING: Operation_Status.RUNNING, DONE: Operation_Status.DONE } as const;

/**
 * Queues the webhook delivery of each status the request asked for, once the operation has
 * reached it: id `<operation>:<status>`, so every run of the job queues the same delivery and the
 * queue keeps one. A status reached before this run (a re-run after a crash) is announced with
 * the operation as it is now.
 */
export function announcer(
  name: string,
  notify: Notification | undefined,
  webhooks: WebhookQueue | undefined,
) {
  const done = new Set<string>();
  return async (operation: Operation) => {
    if (notify === undefined || webhooks === undefined) return;
    for (const status of notify.on) {
      if (done.has(status) || operation.status < STATUS_ORDER[status]) continue;
      const json = toJson(OperationSchema, operation) as Record<string, unknown>;
      const delivery = deliveryFor(notify, status, { name, json });
      if (delivery !== undefined) await webhooks.ensure(delivery);
      done.add(status);
    }
  };
}
