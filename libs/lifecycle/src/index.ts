/**
 * The operation lifecycle: one explicit state machine (`decide`) for everything that happens to
 * an operation between CreateImage and DONE, and the versions of the operation it writes. Pure:
 * the atomic step that applies it in Redis is libs/operations' `step`. The gateway and the worker
 * are drivers of it.
 */
export { decide, decideCancel, type Decision, type Effect, type Subject } from "./decide";
export type { CallFailure, ImageSeen, LifecycleEvent } from "./events";
export {
  ACCEPTED,
  decodeLifecycle,
  encodeLifecycle,
  type Accepted,
  type CallFailureRecord,
  type Dispatched,
  type Done,
  type Following,
  type Lifecycle,
  type Outcome,
} from "./lifecycle";
export {
  applyComputeOperation,
  failedOperation,
  failureOf,
  formatDuration,
  PREFLIGHT_WARNING_DATA,
  RELEASE_WARNING_DATA,
  type Failure,
} from "./operation-versions";
export { isOurs, OWNERSHIP_LABEL, withOwnershipLabel } from "./ownership";
export type { LifecyclePolicy } from "./policy";
export {
  currentOf,
  decideRelease,
  planOf,
  requestIdOf,
  retentionMoves,
  STATE_ORDER,
  type DeprecateStatus,
  type DeprecationState,
  type DeprecationTimes,
  type Move,
  type Refusal,
  type RetentionPolicy,
  type ScheduledStep,
  type FamilyImage,
  type ReleaseDecision,
  type ReleaseEffect,
  type ReleaseEvent,
  type ReleaseLifecycle,
  type ReleasePlan,
  type ReleasePolicy,
  type ReleaseRequest,
} from "./release";
export {
  decideShare,
  MAX_CONFLICTS,
  withMembers,
  type IamBinding,
  type IamPolicy,
  type ShareDecision,
  type ShareEffect,
  type ShareEvent,
  type ShareLifecycle,
  type ShareRequest,
} from "./share";
export {
  cancelRelease,
  decodeReleaseState,
  encodeReleaseState,
  phaseOf,
  releaseVersion,
  type ReleaseState,
} from "./release-operation";
