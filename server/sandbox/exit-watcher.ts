import { type FSWatcher, watch } from "node:fs";
import { readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";

/** What a tmux hook reported about a session. */
export type SessionExit =
  | { kind: "died"; session: string; exitCode: number | null; exitSignal: number | null }
  | { kind: "closed"; session: string };

export interface ExitWatcher {
  /** Reports already present files (events from while no manager ran), then live ones. */
  start(onExit: (exit: SessionExit) => void): Promise<void>;
  /** Forgets the files of a session (after it was handled or deleted). */
  discard(session: string): Promise<void>;
  /** Where the exit recorder around a session's launcher writes the launcher's exit status. */
  statusFile(session: string): string;
  /** The status the exit recorder wrote for a session, or null if it wrote none (yet). */
  recordedStatus(session: string): Promise<number | null>;
  close(): void;
}

const FILE = /^(sandbox-[0-9a-f]{8})\.(died|closed|status)$/;

/**
 * tmux hooks (and the exit recorder around each launcher) drop one small file per event into `dir` (written to a temp name, then renamed, so a reader never
 * sees half a file). Watching the directory with inotify makes liveness event-driven, and because the files
 * persist, an exit that happens while no manager runs is still known, with its status, at the next start.
 */
export function createExitWatcher(dir: string): ExitWatcher {
  let watcher: FSWatcher | null = null;
  let closed = false;
  const seen = new Set<string>();

  async function handle(name: string, onExit: (exit: SessionExit) => void): Promise<void> {
    const match = FILE.exec(name);
    if (match === null || closed || seen.has(name)) return;
    const [, session = "", kind] = match;
    let text: string;
    try {
      text = await readFile(join(dir, name), "utf8");
    } catch {
      return; // renamed away or discarded meanwhile
    }
    if (closed || seen.has(name)) return;
    seen.add(name);
    if (kind === "closed") {
      onExit({ kind: "closed", session });
      return;
    }
    if (kind === "status") {
      // Written by the exit recorder around the launcher: "<status>\n".
      onExit({ kind: "died", session, exitCode: toInt(text.trim()), exitSignal: null });
      return;
    }
    // "<status> <signal>\n", either field empty: no trim, or an empty status would swallow the signal.
    const [status, signal] = text.replace(/\n$/, "").split(" ");
    onExit({ kind: "died", session, exitCode: toInt(status), exitSignal: toInt(signal) });
  }

  return {
    async start(onExit) {
      watcher = watch(dir, (_event, name) => {
        if (typeof name === "string") void handle(name, onExit);
      });
      watcher.on("error", () => {});
      for (const name of await readdir(dir)) await handle(name, onExit);
    },
    async discard(session) {
      for (const kind of ["died", "closed", "status"]) {
        seen.delete(`${session}.${kind}`);
        await rm(join(dir, `${session}.${kind}`), { force: true });
        // A hook cut short between its write and its rename (a teardown may end it) leaves its temp file.
        await rm(join(dir, `${session}.${kind}.tmp`), { force: true });
      }
    },
    statusFile: (session) => join(dir, `${session}.status`),
    async recordedStatus(session) {
      return toInt((await readFile(join(dir, `${session}.status`), "utf8").catch(() => "")).trim());
    },
    close() {
      closed = true;
      watcher?.close();
      watcher = null;
    },
  };
}

function toInt(text: string | undefined): number | null {
  if (text === undefined || !/^\d+$/.test(text)) return null;
  return Number(text);
}

/**
 * tmux commands for the hooks, in tmux's command syntax (stored by set-hook, run through `sh -c` by run-shell).
 * `exitsDir` must be free of quotes, `#`, `$`, backslashes and newlines: createSandboxManager checks its state
 * directory for that. Session names are ours (`sandbox-<hex>`); the status fields are numbers from tmux.
 */
export function exitHookCommands(exitsDir: string): { paneDied: string; sessionClosed: string } {
  // Silent and successful even when the write fails (no space, say): tmux shows a background job's output, or
  // "returned N", in view-mode in some pane (after a teardown, another sandbox's), which then takes every key
  // typed into it as a copy-mode command. The subshell: a failed redirection of `:` ends sh itself, with 2.
  const write = (name: string, content: string) =>
    `exec >/dev/null 2>&1; d="${exitsDir}"; (${content} > "$d/${name}.tmp" && mv -f "$d/${name}.tmp" "$d/${name}"); exit 0`;
  return {
    paneDied: `run-shell -b '${write(
      "#{session_name}.died",
      `printf "%s %s\\n" "#{pane_dead_status}" "#{pane_dead_signal}"`,
    )}'`,
    sessionClosed: `run-shell -b '${write("#{hook_session_name}.closed", ":")}'`,
  };
}
