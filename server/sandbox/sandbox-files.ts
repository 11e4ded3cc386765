import { join } from "node:path";

/** Where a sandbox's own files live under the state directory. */
export interface SandboxFiles {
  /** Its X authority file, which is also its XAUTHORITY (how teardown finds processes that left the tree). */
  authFile(id: string): string;
  /** The FIFO its pane's wrapper waits on before it starts the launcher. */
  goFifo(id: string): string;
  /** Xvfb's stderr. */
  xvfbLog(id: string): string;
  /** The terminal log of its pane. */
  logFile(id: string): string;
}

export function sandboxFiles(dirs: { run: string; logs: string }): SandboxFiles {
  return {
    authFile: (id) => join(dirs.run, `${id}.xauth`),
    goFifo: (id) => join(dirs.run, `${id}.go`),
    xvfbLog: (id) => join(dirs.run, `${id}.xvfb.log`),
    logFile: (id) => join(dirs.logs, `${id}.log`),
  };
}
