import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    setupFiles: ["tests/setup.ts"],
    // Hang guards, not speed limits (issue 13.10): generous enough for a loaded 2-core machine.
    testTimeout: 600_000,
    hookTimeout: 600_000,
    // TensorFlow.js keeps one global engine per process: run files in separate forks, tests in order.
    pool: "forks",
    fileParallelism: true,
  },
});
