import { Operation_Status, type Notification } from "@imagesvc/proto";
import { quote, type FieldViolation } from "./field-violation";

/** The longest notification URL accepted. */
export const NOTIFICATION_URL_MAX = 2048;
/** The statuses a webhook can announce. */
const ANNOUNCED = new Set([Operation_Status.RUNNING, Operation_Status.DONE]);

/**
 * The shape of a URL the service calls (a webhook, a release check), not empty: an absolute
 * http(s) URL of at most NOTIFICATION_URL_MAX characters, with no credentials and no fragment.
 * `example` is offered when it is no URL at all.
 */
export function validateWebhookUrl(
  field: string,
  value: string,
  example: string,
): FieldViolation[] {
  if (value.length > NOTIFICATION_URL_MAX)
    return [
      {
        field,
        description: `is ${value.length} characters long; at most ${NOTIFICATION_URL_MAX} are accepted`,
      },
    ];
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return [{ field, description: `${quote(value)} is not a URL; use e.g. "${example}"` }];
  }
  if (url.protocol !== "https:" && url.protocol !== "http:")
    return [{ field, description: `uses ${url.protocol.slice(0, -1)}; use an https:// URL` }];
  if (url.username !== "" || url.password !== "")
    return [
      {
        field,
        description:
          "carries credentials; put none in the URL (calls are signed: verify the webhook-signature header)",
      },
    ];
  if (url.hash !== "")
    return [{ field, description: "has a #fragment; remove it (it is never sent)" }];
  return [];
}

/**
 * The shape of a webhook request: an absolute http(s) URL with a host and no credentials in it,
 * and statuses among RUNNING and DONE. Which hosts are allowed (and whether plain HTTP is) is
 * the deployment's policy, checked by the gateway (WEBHOOK_ALLOWED_HOSTS).
 */
export function validateNotification(notification: Notification): FieldViolation[] {
  const out: FieldViolation[] = [];
  const field = "notification.url";
  const example = "https://ci.example.com/hooks/images";
  if (notification.url === "") {
    out.push({ field, description: `is required with a notification, e.g. "${example}"` });
  } else {
    out.push(...validateWebhookUrl(field, notification.url, example));
  }
  const seen = new Set<Operation_Status>();
  notification.on.forEach((status, i) => {
    if (!ANNOUNCED.has(status))
      out.push({
        field: `notification.on[${i}]`,
        description: `${Operation_Status[status]} is not announced; use RUNNING or DONE`,
      });
    else if (seen.has(status))
      out.push({
        field: `notification.on[${i}]`,
        description: `repeats ${Operation_Status[status]}`,
      });
    seen.add(status);
  });
  return out;
}
