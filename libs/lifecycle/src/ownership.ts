import { OWNERSHIP_LABEL } from "@imagesvc/validation";
import type { ImageSeen } from "./events";

/**
 * The label this service puts on every image it creates, with the request id as its value.
 *
 * Why: Compute forgets a requestId after about an hour, and an insert's answer can be lost. A
 * re-run that then meets a 409 for "its" image name must tell its own image from someone else's.
 * The first proof is the image id Compute reported when it accepted the insert (`targetId`); when
 * that answer was lost too, this label is the second. Requests may not set it themselves
 * (libs/validation reserves the key).
 */
export { OWNERSHIP_LABEL };

/** The image JSON to insert: the request's image with the ownership label added. */
export function withOwnershipLabel(
  image: Readonly<Record<string, unknown>>,
  requestId: string,
): Record<string, unknown> {
  const labels = (image["labels"] ?? {}) as Record<string, string>;
  return { ...image, labels: { ...labels, [OWNERSHIP_LABEL]: requestId } };
}

/** Whether `image` is the one this request created: same id as Compute reported, or our label. */
export function isOurs(image: ImageSeen, requestId: string, targetId: string): boolean {
  if (targetId !== "" && image.id === targetId) return true;
  return image.labels[OWNERSHIP_LABEL] === requestId;
}
