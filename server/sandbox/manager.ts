import { mkdir, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { openSandboxCgroups } from "../tools/cgroup.js";
import { findExecutable } from "../tools/find-executable.js";
import { REAP_TIMEOUT_MS, waitUntilGone } from "../tools/process-identity.js";
import { createTmux } from "../tools/tmux.js";
import { createSandboxCreator } from "./create-sandbox.js";
import { createDisplayAllocator } from "./display-allocator.js";
import { missingTool, SandboxError } from "./errors.js";
import { createExitWatcher, exitHookCommands } from "./exit-watcher.js";
import { TOOL_PACKAGES } from "./launcher-argv.js";
import { createLiveness } from "./liveness.js";
import { acquireManagerLock } from "./manager-lock.js";
import { checkManagerOptions, makeChildEnv } from "./manager-options.js";
import { reconcile } from "./reconcile.js";
import { copyRecord, createRegistry } from "./registry.js";
import { sandboxFiles } from "./sandbox-files.js";
import type { SandboxManager, SandboxManagerOptions } from "./sandbox-manager.js";
import { settledPanes } from "./settled-panes.js";
import { createSpareFiles } from "./spare-files.js";
import { createStateStore, loadState } from "./state-store.js";
import { createTeardown, targetOf } from "./teardown.js";
import { createTmuxServerHandle } from "./tmux-server-handle.js";
import type { SandboxRecord } from "./types.js";

/** How often adopted Xvfb processes and the tmux server are checked in /proc (no process is spawned). */
const POLL_INTERVAL_MS = 1500;

/**
 * Creates the manager: claims the state directory, reloads state.json, and reconciles it with what is really
 * running (adopting live sandboxes, marking the rest dead and cleaning their leftovers).
 */
export async function createSandboxManager(options: SandboxManagerOptions): Promise<SandboxManager> {
  const stateDir = resolve(options.stateDir);
  checkManagerOptions(options, stateDir);
  const searchPath = options.path ?? process.env.PATH ?? "";
  const dirs = {
    logs: join(stateDir, "logs"),
    run: join(stateDir, "run"),
    exits: join(stateDir, "exits"),
  };
  for (const dir of [stateDir, ...Object.values(dirs)]) await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmuxSocket = join(stateDir, "tmux.sock");
  const stateFile = join(stateDir, "state.json");
  const lock = await acquireManagerLock(join(stateDir, "manager.lock"), stateDir);

  let loaded: Map<string, SandboxRecord>;
  try {
    loaded = await loadState(stateFile);
  } catch (error) {
    await lock.release();
    throw error;
  }
  const registry = createRegistry(loaded, createStateStore(stateFile));
  const childEnv = makeChildEnv(searchPath);
  const tmuxPath = await findExecutable("tmux", searchPath);
  const tmux = createTmux({ tmuxPath: tmuxPath ?? "tmux", socket: tmuxSocket, env: childEnv });
  const tmuxServer = createTmuxServerHandle(tmux);
  const exitWatcher = createExitWatcher(dirs.exits);
  let closed = false;
  let poller: NodeJS.Timeout | null = null;

  const files = sandboxFiles(dirs);
  const panesSettled = () => settledPanes(tmuxPath === null ? null : tmux);
  const assertOpen = (): void => {
    if (closed) throw new SandboxError("unavailable", "the sandbox manager is shutting down");
  };

  const displays = createDisplayAllocator({
    base: options.displayBase,
    usedBySandbox: (n) => registry.records().some((r) => r.status === "running" && r.display_num === n),
  });
  const spares = createSpareFiles(dirs.run);
  const cgroups = await openSandboxCgroups(stateDir);
  const teardown = createTeardown({ tmux, tmuxServer, files, cgroups });
  const liveness = createLiveness({
    registry,
    isClosed: () => closed,
    tmux,
    tmuxServer,
    exitWatcher,
    settledPanes: panesSettled,
    teardown,
    oomKills: (id) => cgroups?.oomKills(id) ?? Promise.resolve(0),
  });
  const creator = createSandboxCreator({
    registry,
    stateDir,
    searchPath,
    launchers: options.launchers,
    screen: options.screen,
    env: childEnv,
    tmux,
    tmuxServer,
    displays,
    spares,
    files,
    exitWatcher,
    hooks: exitHookCommands(dirs.exits),
    cgroups,
    liveness,
    teardown,
    assertOpen,
  });

  // --- stop / delete ------------------------------------------------------------------------------------------

  async function stopLocked(id: string): Promise<SandboxRecord> {
    const record = registry.require(id);
    if (record.status !== "running") return copyRecord(record);
    const runtime = registry.runtime(id);
    if (runtime !== undefined) runtime.ending = true;
    runtime?.xvfbChild?.removeAllListeners("exit");
    await teardown(id, registry.sessionOf(record), targetOf(record, runtime));
    return registry.markEnded(id, "stopped", { reason: "stopped on request" });
  }

  async function stop(id: string): Promise<SandboxRecord> {
    assertOpen();
    registry.require(id);
    return registry.withIdLock(id, () => stopLocked(id));
  }

  async function deleteSandbox(id: string): Promise<void> {
    assertOpen();
    registry.require(id);
    await registry.withIdLock(id, async () => {
      const record = registry.require(id);
      if (record.status === "running") await stopLocked(id);
      await registry.remove(id, () =>
        Promise.all([
          rm(files.logFile(id), { force: true }),
          rm(files.authFile(id), { force: true }),
          rm(files.xvfbLog(id), { force: true }),
          exitWatcher.discard(registry.sessionOf(record)),
        ]),
      );
    });
  }

  /** Ends the tmux server if no session is left on it, and waits until it is gone (not even a zombie). */
  async function stopEmptyTmuxServer(): Promise<void> {
    if (tmuxPath === null) return;
    const panes = await tmux.listPanes().catch(() => null);
    if (panes === null || panes.length > 0) return;
    await tmuxServer.refresh().catch(() => {});
    const server = tmuxServer.current();
    await tmux.killServer().catch(() => {});
    if (server !== null) await waitUntilGone([server], REAP_TIMEOUT_MS);
  }

  // --- start: reconcile state.json with what is running, then watch for ends ----------------------------------

  try {
    // Without tmux the sessions cannot be seen, and reconciling would wrongly end every running sandbox.
    if (tmuxPath === null && registry.records().some((r) => r.status === "running")) {
      throw missingTool("tmux", TOOL_PACKAGES.tmux);
    }
    await reconcile({
      registry,
      tmux,
      tmuxServer,
      exitWatcher,
      settledPanes: panesSettled,
      teardown,
      dirs,
    });
    // Cgroups of sandboxes that are no longer running (a create cut short by a crash, say).
    for (const id of (await cgroups?.ids()) ?? []) {
      if (registry.get(id)?.status !== "running") await cgroups?.remove(id);
    }
    await exitWatcher.start(liveness.onSessionExit);
  } catch (error) {
    exitWatcher.close();
    await lock.release();
    throw error;
  }
  poller = setInterval(() => void liveness.poll().catch(() => {}), POLL_INTERVAL_MS);
  poller.unref();

  return {
    tmuxSocket,
    create: (input, requester) => registry.track(creator.create(input, requester)),
    list: () =>
      registry
        .records()
        .sort((a, b) => b.created_at.localeCompare(a.created_at) || a.id.localeCompare(b.id))
        .map(copyRecord),
    get: (id) => copyRecord(registry.require(id)),
    stop,
    delete: deleteSandbox,
    displays: () =>
      registry
        .running()
        .flatMap(({ record }) =>
          record.display_num === null
            ? []
            : [{ id: record.id, display: record.display_num, authFile: files.authFile(record.id) }],
        ),
    logPath: (id) => {
      registry.require(id);
      return files.logFile(id);
    },
    usageSources: () =>
      registry.running().map(({ record, runtime }) => ({
        id: record.id,
        cgroupDir: cgroups?.dirOf(record.id) ?? null,
        usageCgroups: record.usage_cgroups,
        pane: runtime.pane,
      })),
    onEvent: (listener) => registry.onEvent(listener),
    async close() {
      if (closed) return;
      closed = true;
      if (poller !== null) clearInterval(poller);
      exitWatcher.close();
      for (const { runtime } of registry.running()) runtime.xvfbChild?.removeAllListeners("exit");
      await registry.settled();
      creator.close();
      await spares.close();
      await registry.save();
      // The tmux server outlives its sessions only while the manager runs; with none left it goes with it.
      await stopEmptyTmuxServer();
      // Sandboxes keep running (and their cgroups) across a restart; with none left the manager's is removed.
      await cgroups?.close();
      registry.clearListeners();
      await lock.release();
    },
  };
}

export type { SandboxManager, SandboxManagerOptions } from "./sandbox-manager.js";
