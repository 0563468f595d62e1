// In-guest drivers run under the guest's Node from one bundled ESM file (the guest sees the host
// root, so the bundle lives in the checkout). pino is CommonJS and requires node built-ins: the
// banner gives the ESM bundle a require().

import { join } from "node:path";
import { build } from "esbuild";

/** Bundles test/guest/drivers/<driver> into `outfile`. */
export async function bundleDriver(driver: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [join(import.meta.dirname, driver)],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile,
    logLevel: "silent",
    banner: {
      js: 'import { createRequire } from "node:module"; const require = createRequire(import.meta.url);',
    },
  });
}
