/**
 * What every app and lib shares at run time: the process lifecycle (start, drain on SIGTERM or
 * SIGINT within a bound, exit), capped exponential backoff with jitter, a sleep that an abort
 * ends, and signals linked with one AbortController. Browser-safe but for `runApp`, which only
 * touches `process` when called (the console bundles the rest).
 */
export { runApp, settingsOrExit, type RunAppOptions } from "./run-app";
export { backoffDelay, sleep, type BackoffOptions } from "./backoff";
export { linkedSignal, type LinkedSignal } from "./linked-signal";
