import { defineConfig } from "vitest/config";

// Two test projects: `unit` for pure logic next to the code (*.spec.ts), `int` for tests that
// talk to real Redis, real servers on port 0 and the emulator (*.int.spec.ts). nx runs each one
// per project with a `{projectRoot}/` path filter.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["**/*.spec.ts"],
          exclude: ["**/*.int.spec.ts", "**/node_modules/**", "**/dist/**"],
        },
      },
      {
        test: {
          name: "int",
          include: ["**/*.int.spec.ts"],
          exclude: ["**/node_modules/**", "**/dist/**"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Integration files start servers and child processes; run files one at a time so
          // that timing-sensitive tests are not starved on a 2-core machine.
          fileParallelism: false,
        },
      },
    ],
  },
});
