import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { processesWithArgument, terminateProcesses } from "../tools/process-identity.js";
import { removeStaleXFiles, xvfbDisplayOf } from "../tools/xvfb.js";
import type { SandboxRegistry } from "./registry.js";

/**
 * Files in run/ that no record owns: spare cookies of an earlier run (each cookie goes to exactly one sandbox)
 * and what a create interrupted by a crash left, including its Xvfb, found by its `-auth` argument.
 */
export async function removeOrphans(runDir: string, records: Pick<SandboxRegistry, "has">): Promise<void> {
  for (const name of await readdir(runDir)) {
    const file = join(runDir, name);
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
