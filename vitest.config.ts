import { defineConfig } from "vitest/config";

// Two projects: fast pure unit tests, and integration tests that start real Xvfb, tmux, bwrap and servers.
// Integration tests run files one at a time: they share the machine's 2 cores and real X displays.
export default defineConfig({
  test: {
    reporters: ["default", "./test/summary-reporter.ts"],
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          testTimeout: 10_000,
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
