import { defineConfig } from "vitest/config";

// Unit tests are fast and pure. Integration (real kernel) and e2e (real QEMU under TCG) tests
// need root; they run in the same `npm test`, in forked workers so a test that loads a seccomp
// filter or changes namespaces can never affect another file's process.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    pool: "forks",
    testTimeout: 120_000,
    hookTimeout: 300_000,
    reporters: ["default"],
  },
});
