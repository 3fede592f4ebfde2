/**
 * The Compute Engine client the worker uses: images.insert with a requestId, globalOperations
 * get/wait, images.get, and followOperation to DONE; and the release calls (images.deprecate,
 * getFromFamily, list with filter, delete, setLabels, get/setIamPolicy). Errors are
 * ComputeApiError, classified once.
 */
export {
  createComputeClient,
  COMPUTE_SCOPE,
  type ComputeClient,
  type ComputeClientOptions,
  type ComputeQuota,
  type ComputeAuth,
  type ComputeCallRecord,
  type ComputeImage,
  type CallOptions,
  type DeprecationStatus,
  type IamPolicy,
  type MutationOptions,
} from "./compute-client";
export {
  ComputeApiError,
  classify,
  type ErrorClass,
  type ComputeErrorItem,
} from "./compute-api-error";
export { followOperation, type FollowOptions } from "./follow-operation";
