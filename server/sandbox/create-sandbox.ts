import { randomUUID } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { rm } from "node:fs/promises";
import type { EnterResult, SandboxCgroups } from "../tools/cgroup.js";
import type { Tmux } from "../tools/tmux.js";
import type { RunningXvfb } from "../tools/xvfb.js";
import type { DisplayAllocator } from "./display-allocator.js";
import { SandboxError } from "./errors.js";
import type { ExitWatcher } from "./exit-watcher.js";
import type { Liveness } from "./liveness.js";
import { ownIdentity } from "./project-access.js";
import type { SandboxRegistry } from "./registry.js";
import { releaseLauncher } from "./release-launcher.js";
import { resolveTools } from "./resolve-tools.js";
import type { SandboxFiles } from "./sandbox-files.js";
import type { SandboxRuntime } from "./sandbox-runtime.js";
import { sessionName } from "./session-name.js";
import type { SpareFiles } from "./spare-files.js";
import { startDisplay } from "./start-display.js";
import { startSession } from "./start-session.js";
import type { Teardown } from "./teardown.js";
import type { TmuxServerHandle } from "./tmux-server-handle.js";
import type { BackendName, CreateSandboxInput, Requester, SandboxRecord } from "./types.js";
import { type ValidCreateInput, validateCreateInput } from "./validate-input.js";

export interface CreateSandboxOptions {
  registry: SandboxRegistry;
  stateDir: string;
  /** PATH the tools and launchers are found on. */
  searchPath: string;
  launchers: Record<BackendName, string>;
  /** Xvfb screen geometry, WIDTHxHEIGHTxDEPTH. */
  screen: string;
  /** Environment of tmux and Xvfb. */
  env: NodeJS.ProcessEnv;
  tmux: Tmux;
  tmuxServer: TmuxServerHandle;
  displays: DisplayAllocator;
  spares: SpareFiles;
  files: SandboxFiles;
  exitWatcher: ExitWatcher;
  hooks: { paneDied: string; sessionClosed: string };
  /** Each sandbox's own cgroup, where the manager may make them. */
  cgroups: SandboxCgroups | null;
  liveness: Liveness;
  teardown: Teardown;
  /** Throws SandboxError("unavailable") once the manager is shutting down. */
  assertOpen: () => void;
}

export interface SandboxCreator {
  /** Validates the input, then starts display, tmux session and launcher and commits the running record. */
  create(input: CreateSandboxInput, requester?: Requester): Promise<SandboxRecord>;
  /** Closes the project directories still held open (the manager is closing). */
  close(): void;
}

/**
 * The create path. Everything a create started is torn down again if a later step fails, and its id, session
 * and files are given up, so a failed create leaves no trace.
 */
export function createSandboxCreator(options: CreateSandboxOptions): SandboxCreator {
  const { registry, tmux, displays, spares, files, exitWatcher, cgroups, liveness, teardown } = options;
  const displayOptions = { displays, spares, files, screen: options.screen, env: options.env };
  const sessionOptions = {
    tmux,
    spares,
    files,
    exitWatcher,
    hooks: options.hooks,
    checkTmuxServer: liveness.checkTmuxServer,
    tmuxServer: options.tmuxServer,
  };

  // The checked project directory of each starting or running sandbox, open: the launcher reaches the project
  // through this descriptor, so it gets the directory that was checked whatever happens to its path.
  const projectHandles = new Map<string, FileHandle>();
  registry.onEvent((event) => {
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
    options.assertOpen();
    const valid = await validateCreateInput(input, {
      requester: requester ?? ownIdentity(),
      stateDir: options.stateDir,
      env: options.env,
      path: options.searchPath,
    });
    try {
      const record = await launch(valid);
      if (valid.projectHandle !== undefined) projectHandles.set(record.id, valid.projectHandle);
      // It may have ended already (its event found no handle to release).
      if (registry.get(record.id)?.status !== "running") releaseProject(record.id);
      return record;
    } catch (error) {
      await valid.projectHandle?.close().catch(() => {});
      throw error;
    }
  }

  async function launch(valid: ValidCreateInput): Promise<SandboxRecord> {
    const tools = await resolveTools(valid.backend, options.launchers, options.searchPath);
    options.assertOpen();
    const runtime: SandboxRuntime = {
      xvfb: null,
      xvfbChild: null,
      pane: null,
      starting: true,
      pendingEnd: null,
      ending: false,
    };
    let id = randomUUID();
    while (!registry.claim(id, sessionName(id), runtime)) id = randomUUID();
    const session = sessionName(id);
    const firstDisplay = displays.reserve();
    let xvfb: RunningXvfb | null = null;
    let entered: EnterResult | null = null;
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
            // Known at once, so a failure after this point tears down the launcher's tree by its handle.
            runtime.pane = pane;
            // The wrapper waits on its FIFO until the display is ready: moved now, the launcher starts inside.
            // Its limits are written before the move, so the launcher never runs without them.
            if (pane !== null && cgroups !== null) entered = await cgroups.enter(id, pane.pid, valid.limits);
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
      if (ready.display !== firstDisplay) {
        // new-session -e set the planned number; a retry on another one must fix the session environment.
        await tmux.run(["set-environment", "-t", `=${session}`, "DISPLAY", `:${ready.display}`]);
      }
      await releaseLauncher(files.goFifo(id), ready.display);
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
        ...limitsOfRecord(valid, entered),
      };
      displays.release(ready.display);
      const result = await registry.commit(record);
      runtime.starting = false;
      runtime.pendingEnd?.();
      spares.prepare(tools);
      return result;
    } catch (error) {
      runtime.ending = true;
      runtime.xvfbChild?.removeAllListeners("exit");
      await teardown(id, session, {
        xvfb: xvfb === null ? null : { pid: xvfb.pid, startTime: xvfb.startTime },
        display: xvfb?.display ?? null,
        pane: runtime.pane,
        // Even a failed session step may have created the session before a later command in it failed.
        hasSession: true,
      }).catch(() => {});
      displays.release(firstDisplay);
      if (xvfb !== null) displays.release(xvfb.display);
      registry.unclaim(id, session);
      await Promise.all([rm(files.logFile(id), { force: true }), exitWatcher.discard(session)]);
      throw error;
    }
  }

  return {
    create,
    close() {
      for (const id of [...projectHandles.keys()]) releaseProject(id);
    },
  };
}

function stepFailed(step: string, cause: unknown): SandboxError {
  if (cause instanceof SandboxError) return cause;
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new SandboxError("internal", `could not ${step}: ${detail}`, { cause });
}

/** What the record says of the sandbox's limits: those asked for, whether they hold, why not, where to read use. */
function limitsOfRecord(
  valid: ValidCreateInput,
  entered: EnterResult | null,
): Pick<SandboxRecord, "limits" | "limits_applied" | "limits_note" | "usage_cgroups"> {
  const notes: string[] = [];
  if (entered === null) {
    notes.push(
      "memory, processes, cpu weight not limited: the manager may not make cgroups below its own (not root and not delegated, a read-only cgroupfs, or no cgroup2)",
    );
  } else if (entered.note !== "") {
    notes.push(entered.note);
  }
  // Only the bubblewrap launcher takes a tmpfs size.
  if (valid.backend !== "bubblewrap")
    notes.push(`tmpfs size not applied: the ${valid.backend} launcher takes none`);
  return {
    limits: valid.limits,
    limits_applied: entered?.entered === true && entered.applied && notes.length === 0,
    limits_note: notes.join("; "),
    usage_cgroups: entered?.usage ?? { memory: null, pids: null },
  };
}
