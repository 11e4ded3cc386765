import { afterEach } from "vitest";

export interface Fixtures<A extends unknown[], F> {
  /** Creates a fixture; it is cleaned up after the test. */
  create(...args: A): Promise<F>;
}

export interface FixturesOptions<F> {
  /** Per fixture, after its test and before its cleanup: ends what the test started in it. */
  beforeCleanup?: (fx: F) => Promise<void>;
}

/**
 * Registers the afterEach that cleans up every fixture a test made through `create`, the last made first. A file's
 * own afterEach registered after this call runs before it (Vitest runs after-hooks last-registered first), so it
 * can stop what it started beside a fixture while the fixture still exists.
 */
export function useFixtures<A extends unknown[], F>(
  make: (...args: A) => Promise<F>,
  cleanup: (fx: F) => Promise<void>,
  options: FixturesOptions<F> = {},
): Fixtures<A, F> {
  const made: F[] = [];
  afterEach(async () => {
    for (const fx of made.splice(0).reverse()) {
      try {
        await options.beforeCleanup?.(fx);
      } finally {
        await cleanup(fx);
      }
    }
  });
  return {
    async create(...args) {
      const fx = await make(...args);
      made.push(fx);
      return fx;
    },
  };
}
