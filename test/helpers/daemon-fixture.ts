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
  /** Starts a daemon on the test's state directory; it is killed after the test. */
  start(options?: Omit<DaemonOptions, "stateDir">): Promise<Daemon>;
  /** A signal aborted after the test, for streams a test leaves open. */
  abortLater(): AbortSignal;
}

/**
 * Registers the hooks a daemon test file needs (build once, a project dir, and after each test: abort streams,
 * kill daemons, remove the state dir with its tmux server and Xvfb) and returns what the tests use.
 */
export function useDaemonFixture(): DaemonFixture {
  let projectDir = "";
  let stateDir: string | undefined;
  const daemons: Daemon[] = [];
  const aborts: AbortController[] = [];

  beforeAll(async () => {
    await ensureBuilt();
    projectDir = await realpath(await mkdtemp(join(tmpdir(), "csm-project-")));
  });
  afterEach(async () => {
    for (const ac of aborts.splice(0)) ac.abort();
    for (const daemon of daemons.splice(0)) await stopDaemon(daemon);
    if (stateDir !== undefined) await cleanupStateDir(stateDir);
    stateDir = undefined;
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
      const daemon = await startDaemon({ ...options, stateDir: await fixture.stateDir() });
      daemons.push(daemon);
      return daemon;
    },
    abortLater() {
      const ac = new AbortController();
      aborts.push(ac);
      return ac.signal;
    },
  };
  return fixture;
}
