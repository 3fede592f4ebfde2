/**
 * A faithful local stand-in for the Compute Engine v1 endpoints this project uses (images and
 * globalOperations), with a GCE metadata server and fault injection. Start it in-process with
 * `startComputeEmulator`, or run `apps/compute-emulator`.
 */
export { startComputeEmulator, type ComputeEmulator, type EmulatorAdmin } from "./emulator";
export type { EmulatorOptions, EmulatorConfigPatch, FaultRule } from "./options";
export { checkFaultRule } from "./options";
export type { EmulatorState, ImageJson, OperationJson } from "./store";
