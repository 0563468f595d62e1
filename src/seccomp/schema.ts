// The zod schema of a policy fragment file (policies/*.json), and its JSON Schema for editors.

import { z } from "zod";

const value = z.union([z.number().int(), z.string().min(1)]);

/** One argument condition as written. */
export const rawCondSchema = z.strictObject({
  arg: z.number().int().min(0).max(5),
  op: z.enum(["eq", "ne", "lt", "le", "gt", "ge", "masked_eq"]),
  value,
  mask: value.optional(),
});

/** One rule as written; `why` is mandatory and must say which feature needs the syscall. */
export const rawRuleSchema = z.strictObject({
  syscall: z.string().regex(/^[a-z_][a-z0-9_]*$/, "a syscall name in lower case"),
  action: z.string().optional(),
  args: z.array(rawCondSchema).optional(),
  why: z.string().trim().min(1, "every rule needs a non-empty why"),
});

/** A fragment file. */
export const rawFragmentSchema = z.strictObject({
  $schema: z.string().optional(),
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, "lower-case letters, digits and '-'"),
  description: z.string().trim().min(1),
  includes: z.array(z.string()).optional(),
  arches: z
    .array(z.enum(["x86_64", "aarch64"]))
    .min(1)
    .optional(),
  rules: z.array(rawRuleSchema),
});

/** JSON Schema (draft 2020-12) of a fragment file. */
export function fragmentJsonSchema(): Record<string, unknown> {
  return {
    ...(z.toJSONSchema(rawFragmentSchema, { target: "draft-2020-12" }) as Record<string, unknown>),
    title: "qemu-jail seccomp policy fragment",
  };
}
