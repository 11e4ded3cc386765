import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { processesWithArgument, terminateProcesses } from "../tools/process-identity.js";
import { removeStaleXFiles, xvfbDisplayOf } from "../tools/xvfb.js";
import type { SandboxRegistry } from "./registry.js";

/** The state directory's folders that hold per-sandbox files. */
export interface OrphanDirs {
  run: string;
  logs: string;
  exits: string;
}

/**
 * Files that no record owns, so nothing would ever remove them: spare cookies of an earlier run (each cookie
 * goes to exactly one sandbox) and what a create interrupted by a crash left in run/ (including its Xvfb,
 * found by its `-auth` argument), its terminal log, and exit-hook files of sessions no record has (a hook
 * cut short between its temp file and the rename leaves the temp file).
 */
export async function removeOrphans(
  dirs: OrphanDirs,
  records: Pick<SandboxRegistry, "has" | "idOfSession">,
): Promise<void> {
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
  for (const name of await readdir(dirs.logs)) {
    const id = /^([0-9a-f-]{36})\.log$/.exec(name)?.[1];
    if (id !== undefined && !records.has(id)) await rm(join(dirs.logs, name), { force: true });
  }
  for (const name of await readdir(dirs.exits)) {
    const session = /^(sandbox-[0-9a-f]{8})\.(died|closed|status)(\.tmp)?$/.exec(name)?.[1];
    if (session !== undefined && records.idOfSession(session) === undefined) {
      await rm(join(dirs.exits, name), { force: true });
    }
  }
}
