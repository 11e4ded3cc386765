// The manager's tmux server as the tests see it: commands on the state directory's socket, and what the tests
// read from it. Sessions are always named exactly (`=name`): a bare `-t name` also matches another sandbox's
// session whose name starts the same, or a window of that name.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";

/** Runs a tmux command on the manager's tmux server; resolves with its output, rejects when tmux fails. */
export async function managerTmux(stateDir: string, args: readonly string[]): Promise<string> {
  const { stdout } = await promisify(execFile)("tmux", ["-S", join(stateDir, "tmux.sock"), ...args]);
  return stdout;
}

/** The target of a session's current pane, by exact session name. */
export function paneOf(session: string): string {
  return `=${session}:`;
}

/** A tmux format (`#{pane_mode}`, `#{pane_dead}`) read for a session's pane. */
export async function paneFormat(stateDir: string, session: string, format: string): Promise<string> {
  return (await managerTmux(stateDir, ["display-message", "-p", "-t", paneOf(session), format])).trim();
}

/** The pid of the manager's tmux server, or null when none runs on the socket. */
export async function tmuxServerPid(stateDir: string): Promise<number | null> {
  const out = await managerTmux(stateDir, ["display-message", "-p", "#{pid}"]).catch(() => "");
  const pid = Number(out.trim());
  return pid > 0 ? pid : null;
}
