import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    setupFiles: ["tests/setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // TensorFlow.js keeps one global engine per process: run files in separate forks, tests in order.
    pool: "forks",
    fileParallelism: true,
  },
});
