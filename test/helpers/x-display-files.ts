// What a display's Xvfb leaves when it dies without cleaning up: its socket in /tmp/.X11-unix, nobody listening
// on it, and its /tmp/.X<n>-lock naming a process that is gone. Both "nothing left" checks look for these.
import { lstat, readFile } from "node:fs/promises";
import { pidAlive } from "./wait.js";

export interface StaleXOptions {
  /**
   * Whether a lock naming a zombie counts as held (default false: a zombie is gone for the X server). The
   * teardown check reports zombies on their own and so counts only a vanished process as a dead lock holder.
   */
  zombieHoldsLock?: boolean;
}

/** One line per stale X file of `display`: "…/X<n> with no listener", "/tmp/.X<n>-lock of a dead process". */
export async function staleXFiles(display: number, options: StaleXOptions = {}): Promise<string[]> {
  const found: string[] = [];
  const socket = `/tmp/.X11-unix/X${display}`;
  // The table is read after the file was seen: another manager's Xvfb may take the number meanwhile, and its
  // socket file appears together with its entry (bind), so it is never mistaken for a stale one.
  if ((await exists(socket)) && !(await listened(socket))) found.push(`${socket} with no listener`);
  const lock = await readFile(`/tmp/.X${display}-lock`, "latin1").catch(() => null);
  if (lock !== null) {
    const pid = Number(lock.trim());
    const held = options.zombieHoldsLock === true ? await exists(`/proc/${pid}`) : pidAlive(pid);
    if (!held) found.push(`/tmp/.X${display}-lock of a dead process`);
  }
  return found;
}

async function listened(path: string): Promise<boolean> {
  const table = await readFile("/proc/net/unix", "latin1");
  return table.split("\n").some((line) => line.endsWith(` ${path}`));
}

function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}
