import type {
  BackendName,
  CreateSandboxInput,
  Requester,
  SandboxEvent,
  SandboxRecord,
  SandboxUsageSource,
} from "./types.js";

/** What the manager needs from its surroundings; filled in from the environment by server/config.ts. */
export interface SandboxManagerOptions {
  /** Directory holding state.json, logs/, the tmux socket and per-display auth files. */
  stateDir: string;
  /** Launcher command per backend: a name looked up on PATH, or an absolute path. */
  launchers: Record<BackendName, string>;
  /** Xvfb screen geometry, WIDTHxHEIGHTxDEPTH. */
  screen: string;
  /** Lowest display number handed out. */
  displayBase: number;
  /** PATH used to find tmux, Xvfb, xauth and the launchers; defaults to process.env.PATH. */
  path?: string;
}

/**
 * The domain core: sandbox lifecycle, persistence and liveness. Knows nothing about protobuf or HTTP.
 * Every method that takes an id throws SandboxError("not_found") for an unknown one.
 */
export interface SandboxManager {
  /**
   * Validates, then starts display + tmux session + launcher; tears everything down if a step fails. The
   * project must be a directory `requester` could write (default: the manager's own user) and none the
   * launcher protects; otherwise invalid_argument or permission_denied, and nothing is started or stored.
   */
  create(input: CreateSandboxInput, requester?: Requester): Promise<SandboxRecord>;
  /** Every sandbox, newest first. */
  list(): SandboxRecord[];
  get(id: string): SandboxRecord;
  /** Ends session, process tree and display; idempotent. */
  stop(id: string): Promise<SandboxRecord>;
  /** Stops if needed, removes the record and its files. */
  delete(id: string): Promise<void>;
  /** The X displays of running sandboxes with their authority files, for whoever captures them. */
  displays(): { id: string; display: number; authFile: string }[];
  /** Path of the sandbox's terminal log (may not exist yet). */
  logPath(id: string): string;
  /** Path of the manager's private tmux socket (for `tmux -S … attach`). */
  readonly tmuxSocket: string;
  /** Where each running sandbox's CPU and memory use can be read (server/metrics samples them). */
  usageSources(): SandboxUsageSource[];
  /** Subscribes to changes; returns the unsubscribe function. Listeners must not throw. */
  onEvent(listener: (event: SandboxEvent) => void): () => void;
  /** Flushes state and stops watching; sandboxes keep running and are adopted by the next start. */
  close(): Promise<void>;
}
