import { open, readFile, rm } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { handleOf, isRunning } from "../tools/process-identity.js";
import { SandboxError } from "./errors.js";

export interface ManagerLock {
  release(): Promise<void>;
}

/**
 * Claims the state directory for this process. The lock file holds pid and start time, so a lock left by a
 * manager that was killed (kill -9, power loss) is recognised as stale even if its pid was reused since.
 * Within one process, a second manager on the same directory is refused as well.
 */
export async function acquireManagerLock(file: string, stateDir: string): Promise<ManagerLock> {
  const self = await handleOf(process.pid);
  if (self === null) throw new Error("cannot read /proc/self/stat");
  const content = `${JSON.stringify({ pid: self.pid, start_time: self.startTime })}\n`;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const handle = await open(file, "wx", 0o600);
      try {
        await handle.writeFile(content);
      } finally {
        await handle.close();
      }
      return { release: () => releaseIfOurs(file, content) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    // A holder that has created the file but not yet written it reads as null: give it a moment.
    const holder = (await readHolder(file)) ?? (await sleep(100).then(() => readHolder(file)));
    if (holder !== null && (await isRunning(holder))) {
      throw new SandboxError(
        "failed_precondition",
        `another manager (pid ${holder.pid}) is using state directory ${stateDir}; stop it first ` +
          `(lock file ${file})`,
      );
    }
    // Stale: its owner is gone. Remove it and race again for the exclusive create.
    await rm(file, { force: true });
  }
  throw new SandboxError("unavailable", `could not take the manager lock ${file}; try again`);
}

async function readHolder(file: string): Promise<{ pid: number; startTime: string } | null> {
  try {
    const parsed = JSON.parse(await readFile(file, "utf8")) as { pid?: unknown; start_time?: unknown };
    if (typeof parsed.pid !== "number" || typeof parsed.start_time !== "string") return null;
    return { pid: parsed.pid, startTime: parsed.start_time };
  } catch {
    return null;
  }
}

async function releaseIfOurs(file: string, content: string): Promise<void> {
  const current = await readFile(file, "utf8").catch(() => null);
  if (current === content) await rm(file, { force: true });
}
