// The native helper's TypeScript side: spec types, serializer, spawner, probe, plan mapping.

export type { LandlockAccess, NamespaceName, RlimitName, StageName } from "./format.js";
export { STAGES } from "./format.js";
export { type PlanSpecContext, specFromPlan } from "./from-plan.js";
export { helperPath } from "./paths.js";
export { type HelperProbe, helperProbe, parseProbe } from "./probe.js";
export { serializeSpec } from "./serialize.js";
export { type ExitStatus, type JailedProcess, type SpawnJailedOptions, spawnJailed } from "./spawn.js";
export type { FdRef, HelperSpec, HelperStep } from "./spec.js";
export { parseStatusLine, type StatusEvent } from "./status.js";
