/**
 * The operation lifecycle: one explicit state machine (`decide`) for everything that happens to
 * an operation between CreateImage and DONE, the versions of the operation it writes, and the
 * atomic step that applies it in Redis. The gateway and the worker are drivers of it.
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
  loadSubject,
  step,
  type Decider,
  OperationGoneError,
  type LoadedSubject,
  type Step,
} from "./lifecycle-store";
export {
  applyComputeOperation,
  failedOperation,
  failureOf,
  formatDuration,
  PREFLIGHT_WARNING_DATA,
  type Failure,
} from "./operation-versions";
export { isOurs, OWNERSHIP_LABEL, withOwnershipLabel } from "./ownership";
export type { LifecyclePolicy } from "./policy";
