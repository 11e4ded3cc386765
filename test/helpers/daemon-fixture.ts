import { mkdtemp, realpath, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll } from "vitest";
import { ensureBuilt } from "./build.js";
import {
  cleanupStateDir,
  type Daemon,
  type DaemonOptions,
  makeStateDir,
  startDaemon,
  stopDaemon,
} from "./start-daemon.js";

export interface DaemonFixture {
  /** A project directory shared by the file's tests (real path). */
  readonly projectDir: string;
  /** The state directory every daemon of the current test shares, so a restart finds the same state. */
  stateDir(): Promise<string>;
  /**
   * Starts a daemon on the test's state directory, or on `options.stateDir` (a directory the test prepared, torn
   * down after the test like its own); it is killed after the test.
   */
  start(options?: DaemonOptions): Promise<Daemon>;
  /** A signal aborted after the test, for streams a test leaves open. */
  abortLater(): AbortSignal;
  /** Runs `cleanup` after the test, once its daemons are stopped and their state removed (latest first). */
  cleanupLater(cleanup: () => Promise<unknown> | unknown): void;
}

/**
 * Registers the hooks a daemon test file needs (build once, a project dir, and after each test: abort streams,
 * kill daemons, remove the state dir with its tmux server and Xvfb) and returns what the tests use.
 */
export function useDaemonFixture(): DaemonFixture {
  let projectDir = "";
  let stateDir: string | undefined;
  const otherStateDirs = new Set<string>();
  const daemons: Daemon[] = [];
  const aborts: AbortController[] = [];
  const cleanups: (() => Promise<unknown> | unknown)[] = [];

  beforeAll(async () => {
    await ensureBuilt();
    projectDir = await realpath(await mkdtemp(join(tmpdir(), "csm-project-")));
  });
  afterEach(async () => {
    for (const ac of aborts.splice(0)) ac.abort();
    for (const daemon of daemons.splice(0)) await stopDaemon(daemon);
    if (stateDir !== undefined) await cleanupStateDir(stateDir);
    stateDir = undefined;
    for (const dir of otherStateDirs) await cleanupStateDir(dir);
    otherStateDirs.clear();
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(async () => {
    await rm(projectDir, { recursive: true, force: true });
  });

  const fixture: DaemonFixture = {
    get projectDir() {
      return projectDir;
    },
    async stateDir() {
      stateDir ??= await makeStateDir();
      return stateDir;
    },
    async start(options = {}) {
      if (options.stateDir !== undefined && options.stateDir !== stateDir)
        otherStateDirs.add(options.stateDir);
      const daemon = await startDaemon({
        ...options,
        stateDir: options.stateDir ?? (await fixture.stateDir()),
      });
      daemons.push(daemon);
      return daemon;
    },
    abortLater() {
      const ac = new AbortController();
      aborts.push(ac);
      return ac.signal;
    },
    cleanupLater(cleanup) {
      cleanups.push(cleanup);
    },
  };
  return fixture;
}
