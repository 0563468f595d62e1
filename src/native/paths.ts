// Where the built helper and the test probe live: native/build/ next to src/ and dist/.

import { fileURLToPath } from "node:url";

const buildDir = fileURLToPath(new URL("../../native/build/", import.meta.url));

/** The helper binary (QEMU_JAIL_HELPER overrides it). */
export function helperPath(): string {
  return process.env.QEMU_JAIL_HELPER ?? `${buildDir}qemu-jail-helper`;
}

/** The test build of the helper, which also accepts the fail-after step. */
export function testHelperPath(): string {
  return `${buildDir}qemu-jail-helper-test`;
}

/** The static probe program the tests run inside jails. */
export function probePath(): string {
  return `${buildDir}qj-probe`;
}
