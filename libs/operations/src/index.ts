/**
 * Operation records and their updates: the versioned, monotonic store (one Lua script per write,
 * published atomically), and the bus that fans updates out to watchers over one subscriber
 * connection per process. See keys.ts for the Redis layout and the channel per operation.
 */
export {
  createOperationStore,
  type OperationStore,
  type OperationStoreOptions,
  type CreateInput,
  type CreateResult,
  type ListOptions,
  type StoredOperation,
  type Commit,
  type CommitResult,
  type NamePage,
  type RecordedHistory,
} from "./operation-store";
export {
  createOperationBus,
  abortable,
  type OperationBus,
  type OperationBusOptions,
} from "./operation-bus";
export { HISTORY_MAX, operationKeys } from "./keys";
export {
  loadSubject,
  step,
  subjectOf,
  type Decider,
  type LoadedSubject,
  type Step,
} from "./lifecycle-step";
export { createTokenBucket, type TokenBucket, type TokenBucketOptions } from "./token-bucket";
export {
  createComputeBudget,
  type ComputeBudget,
  type ComputeBudgetOptions,
} from "./compute-budget";
export { createSweeperLock, type SweeperLock } from "./sweeper-lock";
export { createFamilyClaims, type FamilyClaims } from "./family-claims";
export { OperationGoneError, OperationNotFoundError, UnreadableRecordError } from "./errors";
export {
  createReleaseSchedules,
  type DueStep,
  type ImageSchedule,
  type ReleaseSchedules,
} from "./release-schedules";
export {
  createFamilyPolicies,
  type FamilyPolicies,
  type StoredFamilyPolicy,
} from "./family-policies";
export { retentionPassKey } from "./keys";
export { newOperationName, OPERATION_NAME } from "./operation-name";
export {
  familyLink,
  imageLink,
  recordRelease,
  type NewRelease,
  type RecordedRelease,
} from "./record-release";
export { createRolledBack, type RolledBack } from "./rolled-back";
