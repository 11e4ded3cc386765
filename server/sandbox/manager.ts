import { randomUUID } from "node:crypto";
import { type FileHandle, mkdir, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { openSandboxCgroups } from "../tools/cgroup.js";
import { findExecutable } from "../tools/find-executable.js";
import { createTmux } from "../tools/tmux.js";
import type { RunningXvfb } from "../tools/xvfb.js";
import { createDisplayAllocator } from "./display-allocator.js";
import { missingTool, notFound, SandboxError } from "./errors.js";
import { createExitWatcher, exitHookCommands } from "./exit-watcher.js";
import { TOOL_PACKAGES } from "./launcher-argv.js";
import { createLiveness } from "./liveness.js";
import { acquireManagerLock } from "./manager-lock.js";
import { checkManagerOptions, makeChildEnv } from "./manager-options.js";
import { ownIdentity } from "./project-access.js";
import { reconcile } from "./reconcile.js";
import { releaseLauncher } from "./release-launcher.js";
import { resolveTools } from "./resolve-tools.js";
import { sandboxFiles } from "./sandbox-files.js";
import type { SandboxManager, SandboxManagerOptions } from "./sandbox-manager.js";
import type { SandboxRuntime } from "./sandbox-runtime.js";
import { sessionName } from "./session-name.js";
import { settledPanes } from "./settled-panes.js";
import { createSpareFiles } from "./spare-files.js";
import { startDisplay } from "./start-display.js";
import { startSession } from "./start-session.js";
import { createStateStore, loadState } from "./state-store.js";
import { createTeardown, targetOf } from "./teardown.js";
import { createTmuxServerHandle } from "./tmux-server-handle.js";
import type { CreateSandboxInput, Requester, SandboxEvent, SandboxRecord } from "./types.js";
import { type ValidCreateInput, validateCreateInput } from "./validate-input.js";

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

  let records: Map<string, SandboxRecord>;
  try {
    records = await loadState(stateFile);
  } catch (error) {
    await lock.release();
    throw error;
  }
  const store = createStateStore(stateFile);
  const childEnv = makeChildEnv(searchPath);
  const tmuxPath = await findExecutable("tmux", searchPath);
  const tmux = createTmux({ tmuxPath: tmuxPath ?? "tmux", socket: tmuxSocket, env: childEnv });
  const tmuxServer = createTmuxServerHandle(tmux);
  const exitWatcher = createExitWatcher(dirs.exits);
  const hooks = exitHookCommands(dirs.exits);
  const runtimes = new Map<string, SandboxRuntime>();
  const sessionToId = new Map<string, string>();
  const listeners = new Set<(event: SandboxEvent) => void>();
  const idLocks = new Map<string, Promise<unknown>>();
  const inFlight = new Set<Promise<unknown>>();
  let closed = false;
  let poller: NodeJS.Timeout | null = null;

  const files = sandboxFiles(dirs);
  const { authFile, goFifo, xvfbLog, logFile } = files;
  const panesSettled = () => settledPanes(tmuxPath === null ? null : tmux);

  function emit(event: SandboxEvent): void {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch {
        // A listener that throws must not break the manager or the other listeners.
      }
    }
  }

  async function commit(record: SandboxRecord): Promise<SandboxRecord> {
    records.set(record.id, record);
    emit({ type: "upserted", sandbox: copy(record) });
    await store.save(records.values());
    return copy(record);
  }

  function requireRecord(id: string): SandboxRecord {
    const record = typeof id === "string" ? records.get(id) : undefined;
    if (record === undefined) throw notFound(String(id));
    return record;
  }

  function assertOpen(): void {
    if (closed) throw new SandboxError("unavailable", "the sandbox manager is shutting down");
  }

  /** Runs operations on one sandbox one after another (stop, delete and liveness may race otherwise). */
  function withIdLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const previous = idLocks.get(id) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const settled = next.catch(() => {});
    idLocks.set(id, settled);
    void settled.then(() => {
      if (idLocks.get(id) === settled) idLocks.delete(id);
    });
    return track(next);
  }

  function track<T>(promise: Promise<T>): Promise<T> {
    inFlight.add(promise);
    void promise.catch(() => {}).finally(() => inFlight.delete(promise));
    return promise;
  }

  const displays = createDisplayAllocator({
    base: options.displayBase,
    usedBySandbox: (n) => [...records.values()].some((r) => r.status === "running" && r.display_num === n),
  });

  const spares = createSpareFiles(dirs.run);
  const cgroups = await openSandboxCgroups(stateDir);
  const teardown = createTeardown({ tmux, tmuxServer, files, cgroups });
  const liveness = createLiveness({
    records,
    runtimes,
    sessionToId,
    isClosed: () => closed,
    tmux,
    tmuxServer,
    exitWatcher,
    settledPanes: panesSettled,
    teardown,
    withIdLock,
    commit,
  });
  const displayOptions = { displays, spares, files, screen: options.screen, env: childEnv };
  const sessionOptions = {
    tmux,
    spares,
    files,
    exitWatcher,
    hooks,
    checkTmuxServer: liveness.checkTmuxServer,
  };

  // --- create -----------------------------------------------------------------------------------------------

  // The checked project directory of each starting or running sandbox, open: the launcher reaches the project
  // through this descriptor, so it gets the directory that was checked whatever happens to its path.
  const projectHandles = new Map<string, FileHandle>();
  listeners.add((event) => {
    const id =
      event.type === "deleted" ? event.id : event.sandbox.status === "running" ? undefined : event.sandbox.id;
    if (id !== undefined) releaseProject(id);
  });

  function releaseProject(id: string): void {
    const handle = projectHandles.get(id);
    projectHandles.delete(id);
    void handle?.close().catch(() => {});
  }

  async function create(input: CreateSandboxInput, requester?: Requester): Promise<SandboxRecord> {
    assertOpen();
    const valid = await validateCreateInput(input, {
      requester: requester ?? ownIdentity(),
      stateDir,
      env: childEnv,
      path: searchPath,
    });
    try {
      const record = await launch(valid);
      if (valid.projectHandle !== undefined) projectHandles.set(record.id, valid.projectHandle);
      // It may have ended already (its event found no handle to release).
      if (records.get(record.id)?.status !== "running") releaseProject(record.id);
      return record;
    } catch (error) {
      await valid.projectHandle?.close().catch(() => {});
      throw error;
    }
  }

  async function launch(valid: ValidCreateInput): Promise<SandboxRecord> {
    const tools = await resolveTools(valid.backend, options.launchers, searchPath);
    assertOpen();
    let id = randomUUID();
    while (sessionToId.has(sessionName(id)) || records.has(id)) id = randomUUID();
    const session = sessionName(id);
    const runtime: SandboxRuntime = {
      xvfb: null,
      xvfbChild: null,
      pane: null,
      starting: true,
      pendingEnd: null,
      ending: false,
    };
    runtimes.set(id, runtime);
    sessionToId.set(session, id);
    const firstDisplay = displays.reserve();
    let xvfb: RunningXvfb | null = null;
    try {
      // Xvfb (≈55 ms of its own init) and the tmux session with its log pipe start side by side; the pane's
      // wrapper holds the launcher back until the display is ready. Xvfb is the long pole: it is spawned first,
      // then the tmux client (a spawn blocks this thread for a moment).
      let xvfbSpawned = (): void => {};
      const spawned = new Promise<void>((resolve) => {
        xvfbSpawned = resolve;
      });
      const displayStep = startDisplay(displayOptions, id, tools, firstDisplay, xvfbSpawned);
      void displayStep.catch(xvfbSpawned);
      const [display, sessionResult] = await Promise.allSettled([
        displayStep,
        spawned
          .then(() => startSession(sessionOptions, id, session, valid, tools, firstDisplay))
          .then(async (pane) => {
            // The wrapper waits on its FIFO until the display is ready: moved now, the launcher starts inside.
            if (pane !== null) await cgroups?.enter(id, pane.pid);
            return pane;
          }),
      ]);
      if (display.status === "fulfilled") xvfb = display.value;
      if (display.status === "rejected") throw stepFailed("start the Xvfb display", display.reason);
      if (sessionResult.status === "rejected")
        throw stepFailed("start the tmux session", sessionResult.reason);
      const ready = display.value;
      runtime.xvfb = { pid: ready.pid, startTime: ready.startTime };
      runtime.xvfbChild = ready.child;
      liveness.watchXvfbChild(id, ready);
      runtime.pane = sessionResult.value;
      if (ready.display !== firstDisplay) {
        // new-session -e set the planned number; a retry on another one must fix the session environment.
        await tmux.run(["set-environment", "-t", `=${session}`, "DISPLAY", `:${ready.display}`]);
      }
      await releaseLauncher(goFifo(id), ready.display);
      const record: SandboxRecord = {
        id,
        name: valid.name,
        backend: valid.backend,
        project_dir: valid.projectDir,
        status: "running",
        display_num: ready.display,
        tmux_session: session,
        pid_xvfb: ready.pid,
        qemu_qmp_socket: null,
        network: valid.network,
        created_at: new Date().toISOString(),
        stopped_at: null,
        exit_code: null,
        exit_signal: null,
        status_reason: "running",
        shell: valid.shell,
        agent_args: valid.agentArgs,
        xvfb_start_time: ready.startTime,
      };
      records.set(id, record);
      displays.release(ready.display);
      const result = await commit(record);
      runtime.starting = false;
      runtime.pendingEnd?.();
      spares.prepare(tools);
      return result;
    } catch (error) {
      runtime.ending = true;
      await teardown(id, session, {
        xvfb: xvfb === null ? null : { pid: xvfb.pid, startTime: xvfb.startTime },
        display: xvfb?.display ?? null,
        pane: runtime.pane,
        // Even a failed session step may have created the session before a later command in it failed.
        hasSession: true,
      }).catch(() => {});
      displays.release(firstDisplay);
      if (xvfb !== null) displays.release(xvfb.display);
      records.delete(id);
      runtimes.delete(id);
      sessionToId.delete(session);
      await Promise.all([rm(logFile(id), { force: true }), exitWatcher.discard(session)]);
      throw error;
    }
  }

  // --- stop / delete ------------------------------------------------------------------------------------------

  async function stopLocked(id: string): Promise<SandboxRecord> {
    const record = requireRecord(id);
    if (record.status !== "running") return copy(record);
    const runtime = runtimes.get(id);
    if (runtime !== undefined) runtime.ending = true;
    runtime?.xvfbChild?.removeAllListeners("exit");
    await teardown(id, record.tmux_session ?? sessionName(id), targetOf(record, runtime));
    runtimes.delete(id);
    return commit({
      ...record,
      status: "stopped",
      stopped_at: new Date().toISOString(),
      status_reason: "stopped on request",
    });
  }

  async function stop(id: string): Promise<SandboxRecord> {
    assertOpen();
    requireRecord(id);
    return withIdLock(id, () => stopLocked(id));
  }

  async function deleteSandbox(id: string): Promise<void> {
    assertOpen();
    requireRecord(id);
    await withIdLock(id, async () => {
      const record = requireRecord(id);
      if (record.status === "running") await stopLocked(id);
      const session = record.tmux_session ?? sessionName(id);
      records.delete(id);
      sessionToId.delete(session);
      await store.save(records.values());
      await Promise.all([
        rm(logFile(id), { force: true }),
        rm(authFile(id), { force: true }),
        rm(xvfbLog(id), { force: true }),
        exitWatcher.discard(session),
      ]);
      emit({ type: "deleted", id });
    });
  }

  // --- start: reconcile state.json with what is running, then watch for ends ----------------------------------

  try {
    // Without tmux the sessions cannot be seen, and reconciling would wrongly end every running sandbox.
    if (tmuxPath === null && [...records.values()].some((r) => r.status === "running")) {
      throw missingTool("tmux", TOOL_PACKAGES.tmux);
    }
    await reconcile({
      records,
      runtimes,
      sessionToId,
      tmux,
      tmuxServer,
      exitWatcher,
      settledPanes: panesSettled,
      teardown,
      store,
      runDir: dirs.run,
    });
    // Cgroups of sandboxes that are no longer running (a create cut short by a crash, say).
    for (const id of (await cgroups?.ids()) ?? []) {
      if (records.get(id)?.status !== "running") await cgroups?.remove(id);
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
    create: (input, requester) => track(create(input, requester)),
    list: () =>
      [...records.values()]
        .sort((a, b) => b.created_at.localeCompare(a.created_at) || a.id.localeCompare(b.id))
        .map(copy),
    get: (id) => copy(requireRecord(id)),
    stop,
    delete: deleteSandbox,
    logPath: (id) => {
      requireRecord(id);
      return logFile(id);
    },
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      if (closed) return;
      closed = true;
      if (poller !== null) clearInterval(poller);
      exitWatcher.close();
      for (const runtime of runtimes.values()) runtime.xvfbChild?.removeAllListeners("exit");
      await Promise.allSettled([...inFlight]);
      for (const id of [...projectHandles.keys()]) releaseProject(id);
      await spares.close();
      await store.save(records.values());
      // Sandboxes keep running (and their cgroups) across a restart; with none left the manager's is removed.
      await cgroups?.close();
      listeners.clear();
      await lock.release();
    },
  };
}

const copy = (record: SandboxRecord): SandboxRecord => ({ ...record, agent_args: [...record.agent_args] });

function stepFailed(step: string, cause: unknown): SandboxError {
  if (cause instanceof SandboxError) return cause;
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new SandboxError("internal", `could not ${step}: ${detail}`, { cause });
}

export type { SandboxManager, SandboxManagerOptions } from "./sandbox-manager.js";
