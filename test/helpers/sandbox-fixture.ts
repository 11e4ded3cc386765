import { afterEach } from "vitest";
import { createSandboxFixture, type SandboxFixture } from "./sandbox-home.js";
import { killStragglers } from "./sandbox-launcher.js";
import type { SandboxUser } from "./sandbox-user.js";

export interface SandboxFixtures {
  /** Creates a fixture for `owner`; it is removed after the test. */
  create(owner: SandboxUser): Promise<SandboxFixture>;
}

export interface SandboxFixturesOptions {
  /** Per fixture, after its test and before its processes are killed and its dirs removed. */
  beforeCleanup?: (fx: SandboxFixture) => Promise<void>;
}

/**
 * Registers the afterEach that kills what a test left running under its fixtures and removes them. A file's own
 * afterEach registered after this call runs first (Vitest runs after-hooks last-registered first), so it can stop
 * what it started beside a fixture while the fixture still exists.
 */
export function useSandboxFixture(options: SandboxFixturesOptions = {}): SandboxFixtures {
  const made: SandboxFixture[] = [];
  afterEach(async () => {
    for (const fx of made.splice(0).reverse()) {
      try {
        await options.beforeCleanup?.(fx);
      } finally {
        await killStragglers(fx.root);
        await fx.cleanup();
      }
    }
  });
  return {
    async create(owner) {
      const fx = await createSandboxFixture(owner);
      made.push(fx);
      return fx;
    },
  };
}
