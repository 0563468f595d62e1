// The JSON Schema of vm.toml, generated from the zod schema (input side: what people write).

import * as z from "zod";
import { configSchema } from "./schema.js";

/** JSON Schema (draft-07, which taplo understands) describing vm.toml. */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, {
    io: "input",
    target: "draft-7",
    unrepresentable: "any",
  }) as Record<string, unknown>;
  return {
    ...schema,
    $id: "https://qemu-jail.invalid/vm.schema.json",
    title: "qemu-jail vm.toml",
  };
}
