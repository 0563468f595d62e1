// Audit views of a plan: text rendering, summary, semantic diff.
export { type Change, diffPlans, type PlanDiff, renderDiff } from "./diff.js";
export { type RenderOptions, renderPlan, summarizePlan } from "./render.js";
