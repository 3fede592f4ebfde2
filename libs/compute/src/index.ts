/**
 * The Compute Engine client the worker uses: images.insert with a requestId, globalOperations
 * get/wait, images.get, and followOperation to DONE. Errors are ComputeApiError, classified once.
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
} from "./compute-client";
export {
  ComputeApiError,
  classify,
  type ErrorClass,
  type ComputeErrorItem,
} from "./compute-api-error";
export { followOperation, type FollowOptions } from "./follow-operation";
