import type { ChildProcess } from "node:child_process";
import type { ProcessHandle } from "../tools/process-identity.js";

/** What this manager process knows about a running sandbox beyond its record. */
export interface SandboxRuntime {
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
