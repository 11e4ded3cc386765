import type { ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdir, readdir, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { writeToFifo } from "../tools/fifo.js";
import { findExecutable } from "../tools/find-executable.js";
import {
  handleOf,
  isRunning,
  type ProcessHandle,
  processesWithArgument,
  processesWithEnvironment,
  processTree,
  terminateProcesses,
} from "../tools/process-identity.js";
import { createTmux, isNoServer, type PaneState } from "../tools/tmux.js";
import { escapeTmuxFormat, shellQuote } from "../tools/tmux-quoting.js";
import {
  DisplayInUseError,
  type RunningXvfb,
  removeStaleXFiles,
  startXvfb,
  xvfbDisplayOf,
} from "../tools/xvfb.js";
import { describeExit } from "./describe-exit.js";
import { createDisplayAllocator } from "./display-allocator.js";
import { missingLauncher, missingTool, notFound, SandboxError } from "./errors.js";
import { createExitWatcher, exitHookCommands, type SessionExit } from "./exit-watcher.js";
import { launcherArgv, TOOL_PACKAGES, wrapLauncher } from "./launcher-argv.js";
import { acquireManagerLock } from "./manager-lock.js";
import { checkManagerOptions, makeChildEnv } from "./manager-options.js";
import type { SandboxManager, SandboxManagerOptions } from "./sandbox-manager.js";
import { createSpareFiles } from "./spare-files.js";
import { createStateStore, loadState } from "./state-store.js";
import type { BackendName, CreateSandboxInput, SandboxEvent, SandboxRecord } from "./types.js";
import { type ValidCreateInput, validateCreateInput } from "./validate-input.js";

/** How often adopted Xvfb processes and the tmux server are checked in /proc (no process is spawned). */
const POLL_INTERVAL_MS = 1500;
const XVFB_ATTEMPTS = 10;
const PANE_SIZE = ["-x", "200", "-y", "50"];

/** What this manager process knows about a running sandbox beyond its record. */
interface Runtime {
  xvfb: ProcessHandle | null;
  /** Xvfb's child handle when this process started it (exit event); null for an adopted Xvfb. */
  xvfbChild: ChildProcess | null;
  /** The launcher process in the pane (pid + start time), to end its whole tree by handle. */
  pane: ProcessHandle | null;
  /** Set while create has not committed the record: liveness events are held until it has. */
  starting: boolean;
  pendingEnd: (() => void) | null;
  /** Set once stop, delete or a liveness end has begun: later events for the sandbox are ignored. */
  ending: boolean;
}

interface Tools {
  sh: string;
  tmux: string;
  xvfb: string;
  xauth: string;
  mkfifo: string;
  launcher: string;
}

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
  const exitWatcher = createExitWatcher(dirs.exits);
  const hooks = exitHookCommands(dirs.exits);
  const runtimes = new Map<string, Runtime>();
  const sessionToId = new Map<string, string>();
  const listeners = new Set<(event: SandboxEvent) => void>();
  const idLocks = new Map<string, Promise<unknown>>();
  const inFlight = new Set<Promise<unknown>>();
  let tmuxServer: ProcessHandle | null = null;
  let closed = false;
  let poller: NodeJS.Timeout | null = null;

  const authFile = (id: string) => join(dirs.run, `${id}.xauth`);
  const goFifo = (id: string) => join(dirs.run, `${id}.go`);
  const xvfbLog = (id: string) => join(dirs.run, `${id}.xvfb.log`);
  const logFile = (id: string) => join(dirs.logs, `${id}.log`);

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

  async function requireTool(command: string, debianPackage: string): Promise<string> {
    const found = await findExecutable(command, searchPath);
    if (found === null) throw missingTool(command, debianPackage);
    return found;
  }

  async function resolveTools(backend: BackendName): Promise<Tools> {
    const [tmuxBin, xvfb, xauth, mkfifo, sh] = await Promise.all([
      requireTool("tmux", TOOL_PACKAGES.tmux),
      requireTool("Xvfb", TOOL_PACKAGES.Xvfb),
      requireTool("xauth", TOOL_PACKAGES.xauth),
      requireTool("mkfifo", TOOL_PACKAGES.mkfifo),
      requireTool("sh", TOOL_PACKAGES.sh),
    ]);
    const command = options.launchers[backend];
    const launcher = await findExecutable(command, searchPath);
    if (launcher === null) throw missingLauncher(backend, command);
    return { sh, tmux: tmuxBin, xvfb, xauth, mkfifo, launcher };
  }

  const displays = createDisplayAllocator({
    base: options.displayBase,
    usedBySandbox: (n) => [...records.values()].some((r) => r.status === "running" && r.display_num === n),
  });

  const spares = createSpareFiles(dirs.run);

  /** Starts Xvfb on the reserved display, moving on to the next free number if another server takes it. */
  async function startDisplay(
    id: string,
    tools: Tools,
    first: number,
    onSpawned: () => void,
  ): Promise<RunningXvfb> {
    await spares.takeAuth(tools.xauth, authFile(id));
    const tried = new Set<number>();
    let display = first;
    for (let attempt = 1; ; attempt++) {
      try {
        return await startXvfb({
          xvfbPath: tools.xvfb,
          display,
          screen: options.screen,
          authFile: authFile(id),
          stderrFile: xvfbLog(id),
          env: childEnv,
          onSpawned,
        });
      } catch (error) {
        displays.release(display);
        if (!(error instanceof DisplayInUseError) || attempt >= XVFB_ATTEMPTS) throw error;
        tried.add(display);
        display = displays.reserve(tried);
      }
    }
  }

  // --- create -----------------------------------------------------------------------------------------------

  async function create(input: CreateSandboxInput): Promise<SandboxRecord> {
    assertOpen();
    const valid = await validateCreateInput(input);
    const tools = await resolveTools(valid.backend);
    assertOpen();
    let id = randomUUID();
    while (sessionToId.has(sessionName(id)) || records.has(id)) id = randomUUID();
    const session = sessionName(id);
    const runtime: Runtime = {
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
      const displayStep = startDisplay(id, tools, firstDisplay, xvfbSpawned);
      void displayStep.catch(xvfbSpawned);
      const [display, sessionResult] = await Promise.allSettled([
        displayStep,
        spawned.then(() => startSession(id, session, valid, tools, firstDisplay)),
      ]);
      if (display.status === "fulfilled") xvfb = display.value;
      if (display.status === "rejected") throw stepFailed("start the Xvfb display", display.reason);
      if (sessionResult.status === "rejected")
        throw stepFailed("start the tmux session", sessionResult.reason);
      const ready = display.value;
      runtime.xvfb = { pid: ready.pid, startTime: ready.startTime };
      runtime.xvfbChild = ready.child;
      watchXvfbChild(id, ready);
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

  /**
   * Starts the sandbox's tmux session with its log pipe attached. The pane runs the wrapper, which waits on
   * the `go` FIFO before it starts the launcher. Resolves with the pane process (the wrapper).
   */
  async function startSession(
    id: string,
    session: string,
    valid: ValidCreateInput,
    tools: Tools,
    display: number,
  ): Promise<ProcessHandle | null> {
    await spares.takeFifo(tools.mkfifo, goFifo(id));
    const argv = wrapLauncher(
      tools.sh,
      { statusFile: exitWatcher.statusFile(session), goFifo: goFifo(id) },
      launcherArgv({ ...valid, launcherPath: tools.launcher }),
    );
    const env = ["-e", `DISPLAY=:${display}`, "-e", `XAUTHORITY=${authFile(id)}`];
    const dir = escapeTmuxFormat(valid.projectDir);
    const commands = [
      [
        "new-session",
        "-d",
        "-P",
        "-F",
        "#{pane_pid}",
        "-s",
        session,
        ...PANE_SIZE,
        "-c",
        dir,
        ...env,
        "--",
        ...argv,
      ],
      // A pane whose program exits stays (dead) so its exit status can be read, and pane-died fires.
      ["set-option", "-g", "remain-on-exit", "on"],
      ["set-hook", "-g", "pane-died", hooks.paneDied],
      ["set-hook", "-g", "session-closed", hooks.sessionClosed],
      // Attached before the launcher may run, so the log holds its very first byte.
      ["pipe-pane", "-t", `=${session}:`, `exec cat >> ${shellQuote(logFile(id))}`],
    ];
    let out: string;
    try {
      out = await tmux.runAll(commands);
    } catch (error) {
      // The server exits when its last session ends; a create that reaches it in that moment starts a new one.
      if (!isNoServer(error)) throw error;
      await tmux.killSession(session);
      out = await tmux.runAll(commands);
    }
    await checkTmuxServer();
    const pid = Number(out.trim());
    return Number.isSafeInteger(pid) && pid > 0 ? handleOf(pid) : null;
  }

  /** Lets the wrapper start the launcher: it waits for the display number on its FIFO. */
  async function releaseLauncher(fifo: string, display: number): Promise<void> {
    try {
      await writeToFifo(fifo, `${display}\n`, 10_000);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      throw new SandboxError("internal", `could not start the launcher: its pane is not waiting (${code})`);
    }
  }

  async function refreshServerHandle(): Promise<void> {
    const pid = await tmux.serverPid();
    tmuxServer = pid === null ? null : await handleOf(pid);
  }

  function watchXvfbChild(id: string, xvfb: RunningXvfb): void {
    xvfb.child.once("exit", (code, signal) => {
      const how = signal === null ? `status ${code}` : signal;
      endUnexpectedly(id, { reason: `Xvfb (display :${xvfb.display}) exited unexpectedly (${how})` });
    });
  }

  // --- ending -----------------------------------------------------------------------------------------------

  interface TeardownTarget {
    xvfb: ProcessHandle | null;
    display: number | null;
    pane: ProcessHandle | null;
    hasSession: boolean;
  }

  function targetOf(record: SandboxRecord, runtime: Runtime | undefined): TeardownTarget {
    const xvfb =
      runtime?.xvfb ??
      (record.pid_xvfb !== null && record.xvfb_start_time !== null
        ? { pid: record.pid_xvfb, startTime: record.xvfb_start_time }
        : null);
    return { xvfb, display: record.display_num, pane: runtime?.pane ?? null, hasSession: true };
  }

  /**
   * Ends the launcher's process tree, the tmux session and the Xvfb, each only if it is still the same process.
   * Best effort: a step that fails (tmux gone, say) does not keep the next from running.
   */
  async function teardown(id: string, session: string, target: TeardownTarget): Promise<void> {
    if (target.hasSession) {
      const pane = target.pane ?? (await livePaneHandle(session).catch(() => null));
      // A process forked between a snapshot and the signals (the wrapper starting the launcher, say) is
      // caught by the next pass; the passes end when nothing of the sandbox is left.
      for (let pass = 0; pass < 3; pass++) {
        const members = await sandboxProcesses(id, pane);
        if (members.length === 0) break;
        await terminateProcesses(members);
      }
      await tmux.killSession(session).catch(() => {});
    }
    if (target.xvfb !== null) {
      await terminateProcesses([target.xvfb]);
      if (target.display !== null) await removeStaleXFiles(target.display, target.xvfb.pid);
    }
    await Promise.all([
      rm(authFile(id), { force: true }),
      rm(xvfbLog(id), { force: true }),
      rm(goFifo(id), { force: true }),
    ]);
  }

  /** The processes of a sandbox: the pane's tree, plus any that escaped it but carry its XAUTHORITY. */
  async function sandboxProcesses(id: string, pane: ProcessHandle | null): Promise<ProcessHandle[]> {
    const members = new Map<number, ProcessHandle>();
    if (pane !== null) {
      const leaderAlive = await isRunning(pane);
      // With the leader gone its pid could be reused by a stranger; only its group and session members
      // (which keep the number allocated) and their descendants are ours then.
      for (const p of await processTree(pane.pid))
        if (leaderAlive || p.pid !== pane.pid) members.set(p.pid, p);
    }
    // Processes that escaped the tree (setsid + parent exited) still carry the sandbox's own XAUTHORITY. The
    // pipe-pane `cat` carries it too but must live until the session ends, to log the launcher's last words.
    for (const p of await processesWithEnvironment(`XAUTHORITY=${authFile(id)}`)) {
      if (!members.has(p.pid) && p.ppid !== tmuxServer?.pid) members.set(p.pid, p);
    }
    return [...members.values()];
  }

  async function livePaneHandle(session: string): Promise<ProcessHandle | null> {
    const pane = (await tmux.listPanes()).find((p) => p.session === session);
    if (pane === undefined || pane.dead) return null;
    return handleOf(pane.panePid);
  }

  interface EndInfo {
    reason: string;
    exitCode?: number | null;
    exitSignal?: string | null;
  }

  /** A sandbox ended on its own (launcher exit, session closed, Xvfb died): mark it dead and clean up. */
  function endUnexpectedly(id: string, info: EndInfo): void {
    const runtime = runtimes.get(id);
    if (runtime === undefined || runtime.ending || closed) return;
    if (runtime.starting) {
      runtime.pendingEnd ??= () => endUnexpectedly(id, info);
      return;
    }
    runtime.ending = true;
    void withIdLock(id, async () => {
      const record = records.get(id);
      if (record === undefined || record.status !== "running") return;
      await teardown(id, record.tmux_session ?? sessionName(id), targetOf(record, runtime)).catch(() => {});
      runtimes.delete(id);
      // Recorded even while closing: the teardown happened, and the next start must not adopt it.
      await commit({
        ...record,
        status: "dead",
        stopped_at: new Date().toISOString(),
        exit_code: info.exitCode ?? null,
        exit_signal: info.exitSignal ?? null,
        status_reason: info.reason,
      });
    }).catch(() => {});
  }

  function onSessionExit(exit: SessionExit): void {
    const id = sessionToId.get(exit.session);
    const record = id === undefined ? undefined : records.get(id);
    const runtime = id === undefined ? undefined : runtimes.get(id);
    if (id === undefined || (runtime === undefined && record?.status !== "running")) {
      // Not (or no longer) a running sandbox: the file is a leftover of a stop or delete.
      if (record === undefined || record.status !== "running") void exitWatcher.discard(exit.session);
      return;
    }
    if (exit.kind === "closed") {
      endUnexpectedly(id, { reason: "its tmux session was closed outside the manager" });
      return;
    }
    if (exit.exitCode !== null || exit.exitSignal !== null) {
      endUnexpectedly(id, describeExit(exit.exitCode, exit.exitSignal));
      return;
    }
    void exitOf(exit.session, null).then((end) => endUnexpectedly(id, end));
  }

  /**
   * The launcher's exit, from the best source at hand: the exit recorder's file (written before the pane
   * died), else what tmux knows about the dead pane (waiting briefly for it to learn the status).
   */
  async function exitOf(session: string, known: PaneState | null): Promise<ReturnType<typeof describeExit>> {
    const recorded = await exitWatcher.recordedStatus(session);
    if (recorded !== null) return describeExit(recorded, null);
    let pane = known;
    if (pane === null || (pane.deadStatus === null && pane.deadSignal === null)) {
      pane = (await settledPanes().catch(() => [])).find((p) => p.session === session) ?? pane;
    }
    const late = await exitWatcher.recordedStatus(session);
    if (late !== null) return describeExit(late, null);
    return describeExit(pane?.deadStatus ?? null, pane?.deadSignal ?? null);
  }

  /**
   * Notices that the tmux server we knew has gone (killed, crashed), taking every session on it: those
   * sandboxes end. A create may have started a new server since, so the current one is asked which sessions
   * exist rather than ending everything. Runs from the poll and before a create relies on the server.
   */
  async function checkTmuxServer(): Promise<void> {
    const server = tmuxServer;
    if (server !== null && (await isRunning(server))) return;
    const live = new Set((await tmux.listPanes()).map((p) => p.session));
    if (tmuxServer === server) await refreshServerHandle();
    if (server === null) return;
    for (const record of records.values()) {
      const runtime = runtimes.get(record.id);
      if (record.status !== "running" || runtime === undefined || runtime.starting || runtime.ending)
        continue;
      if (!live.has(record.tmux_session ?? "")) {
        endUnexpectedly(record.id, { reason: "the manager's tmux server exited" });
      }
    }
  }

  async function poll(): Promise<void> {
    if (closed) return;
    if (tmuxServer !== null) await checkTmuxServer();
    for (const record of records.values()) {
      const runtime = runtimes.get(record.id);
      if (record.status !== "running" || runtime === undefined || runtime.starting || runtime.ending)
        continue;
      if (runtime.xvfbChild === null && runtime.xvfb !== null && !(await isRunning(runtime.xvfb))) {
        endUnexpectedly(record.id, { reason: `Xvfb (display :${record.display_num}) is no longer running` });
      } else if (runtime.pane !== null && !(await isRunning(runtime.pane))) {
        // Normally the pane-died hook reports this at once; this catches a hook that could not run.
        const session = record.tmux_session ?? "";
        const panes = await settledPanes().catch(() => null);
        const pane = panes?.find((p) => p.session === session);
        if (panes !== null && pane === undefined) {
          endUnexpectedly(record.id, { reason: "its tmux session is gone" });
        } else if (pane?.dead) {
          endUnexpectedly(record.id, await exitOf(session, pane));
        }
      }
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

  // --- restart: reconcile what state.json says with what is running --------------------------------------------

  /**
   * tmux marks a pane dead when its terminal closes, which can be a moment before it has reaped the process and
   * knows the exit status. Re-reads briefly so a launcher that just exited gets its status recorded.
   */
  async function settledPanes(): Promise<PaneState[]> {
    if (tmuxPath === null) return [];
    const deadline = Date.now() + 1000;
    for (;;) {
      const panes = await tmux.listPanes();
      const unsettled = panes.some((p) => p.dead && p.deadStatus === null && p.deadSignal === null);
      if (!unsettled || Date.now() > deadline) return panes;
      await sleep(25);
    }
  }

  /**
   * Files in run/ that no record owns: spare cookies of an earlier run (each cookie goes to exactly one sandbox)
   * and what a create interrupted by a crash left, including its Xvfb, found by its `-auth` argument.
   */
  async function removeOrphans(): Promise<void> {
    for (const name of await readdir(dirs.run)) {
      const file = join(dirs.run, name);
      const id = /^([0-9a-f-]{36})\.(xauth|xvfb\.log|go)$/.exec(name)?.[1];
      if (name.startsWith("spare-")) {
        await rm(file, { force: true });
      } else if (id !== undefined && !records.has(id)) {
        if (name.endsWith(".xauth")) {
          for (const xvfb of await processesWithArgument(file)) {
            const display = await xvfbDisplayOf(xvfb.pid);
            await terminateProcesses([xvfb]);
            if (display !== null) await removeStaleXFiles(display, xvfb.pid);
          }
        }
        await rm(file, { force: true });
      }
    }
  }

  async function reconcile(): Promise<void> {
    const panes = await settledPanes();
    await refreshServerHandle().catch(() => {});
    const paneOf = new Map<string, PaneState>(panes.map((p) => [p.session, p]));
    for (const record of [...records.values()]) {
      const session = record.tmux_session ?? sessionName(record.id);
      sessionToId.set(session, record.id);
      const pane = paneOf.get(session);
      paneOf.delete(session);
      if (record.status !== "running") {
        // Left over from a stop or delete that a crash interrupted.
        if (pane !== undefined)
          await teardown(record.id, session, { ...targetOf(record, undefined), xvfb: null });
        continue;
      }
      const xvfb = targetOf(record, undefined).xvfb;
      const xvfbAlive = xvfb !== null && (await isRunning(xvfb));
      let end: EndInfo | null = null;
      if (pane === undefined) end = { reason: "its tmux session was gone when the manager started" };
      else if (pane.dead) end = await exitOf(session, pane);
      else if (!xvfbAlive)
        end = { reason: `Xvfb (display :${record.display_num}) was gone when the manager started` };
      if (end === null && pane !== undefined) {
        runtimes.set(record.id, {
          xvfb,
          xvfbChild: null,
          pane: await handleOf(pane.panePid),
          starting: false,
          pendingEnd: null,
          ending: false,
        });
        continue;
      }
      await teardown(record.id, session, { ...targetOf(record, undefined), hasSession: pane !== undefined });
      records.set(record.id, {
        ...record,
        status: "dead",
        stopped_at: new Date().toISOString(),
        exit_code: end?.exitCode ?? null,
        exit_signal: end?.exitSignal ?? null,
        status_reason: end?.reason ?? "ended",
      });
    }
    await removeOrphans();
    // Sessions on our private server that no record owns: a create interrupted by a crash.
    for (const [session, pane] of paneOf) {
      if (!/^sandbox-[0-9a-f]{8}$/.test(session)) continue;
      const leader = pane.dead ? null : await handleOf(pane.panePid);
      if (leader !== null) await terminateProcesses(await processTree(leader.pid));
      await tmux.killSession(session);
    }
    await store.save(records.values());
  }

  try {
    // Without tmux the sessions cannot be seen, and reconciling would wrongly end every running sandbox.
    if (tmuxPath === null && [...records.values()].some((r) => r.status === "running")) {
      throw missingTool("tmux", TOOL_PACKAGES.tmux);
    }
    await reconcile();
    await exitWatcher.start(onSessionExit);
  } catch (error) {
    exitWatcher.close();
    await lock.release();
    throw error;
  }
  poller = setInterval(() => void poll().catch(() => {}), POLL_INTERVAL_MS);
  poller.unref();

  return {
    tmuxSocket,
    create: (input) => track(create(input)),
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
      await spares.close();
      await store.save(records.values());
      listeners.clear();
      await lock.release();
    },
  };
}

const sessionName = (id: string): string => `sandbox-${id.slice(0, 8)}`;

const copy = (record: SandboxRecord): SandboxRecord => ({ ...record, agent_args: [...record.agent_args] });

function stepFailed(step: string, cause: unknown): SandboxError {
  if (cause instanceof SandboxError) return cause;
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new SandboxError("internal", `could not ${step}: ${detail}`, { cause });
}

export type { SandboxManager, SandboxManagerOptions } from "./sandbox-manager.js";
