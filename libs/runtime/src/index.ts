/** The process lifecycle every app shares: start, drain on SIGTERM/SIGINT within a bound, exit. */
export { runApp, type RunAppOptions } from "./run-app";
