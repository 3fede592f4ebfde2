/**
 * Request validation shared by the gateway and the CLI. Pure: no I/O, no clock, no randomness.
 */
export type { FieldViolation } from "./field-violation";
export {
  validateCreateImageRequest,
  GUEST_OS_FEATURE_TYPES,
  LIMITS,
  ARCHITECTURES,
} from "./create-image-request";
export { ERROR_LIMITS, invalidArgument } from "./connect-error";
export { isProjectId, checkProjectId } from "./project-id";
export { checkRequestId } from "./request-id";
export { OWNERSHIP_LABEL } from "./labels";
export { namedResources, type NamedResource } from "./named-resources";
export { NOTIFICATION_URL_MAX, validateNotification } from "./notification";
export { webhookUrlRefusal, type WebhookPolicy } from "./webhook-policy";
export { EXTRA_LIMITS } from "./image-extras";
export {
  DEFAULT_EXCLUSION_LABEL,
  DEFAULT_SHARE_ROLE,
  DEPRECATION_STATES,
  deprecationTimes,
  RELEASE_LIMITS,
  validateDeprecateImageRequest,
  validatePromoteImageRequest,
  validateRollbackFamilyRequest,
  validateSetFamilyPolicyRequest,
  validateShareImageRequest,
} from "./release-requests";
export { RESOURCE_NAME, checkResourceName } from "./resource-name";
