import { notFound } from "./errors.js";
import type { SandboxRuntime } from "./sandbox-runtime.js";
import { sessionName } from "./session-name.js";
import type { StateStore } from "./state-store.js";
import type { SandboxEvent, SandboxRecord } from "./types.js";

/** How a sandbox ended, for its record. */
export interface EndInfo {
  reason: string;
  exitCode?: number | null;
  exitSignal?: string | null;
}

/**
 * The one owner of the manager's sandbox state: the records (persisted in state.json), what this process knows
 * about each running sandbox beyond its record (its runtime), which tmux session belongs to which sandbox, the
 * per-sandbox lock, and the listeners that hear about every change. Everything else reads and changes the
 * state through here, so a record can only change in the ways below.
 */
export interface SandboxRegistry {
  get(id: string): SandboxRecord | undefined;
  /** The record, or SandboxError("not_found"). */
  require(id: string): SandboxRecord;
  has(id: string): boolean;
  records(): SandboxRecord[];
  /** The sandbox's tmux session (its record's, or the name it was given). */
  sessionOf(record: SandboxRecord): string;
  idOfSession(session: string): string | undefined;
  runtime(id: string): SandboxRuntime | undefined;
  /** Running sandboxes with what this process knows of them (adopted or started here). */
  running(): { record: SandboxRecord; runtime: SandboxRuntime }[];
  /** Claims an id and its session for a create that has begun (no record yet); false if either is taken. */
  claim(id: string, session: string, runtime: SandboxRuntime): boolean;
  /** Gives up a claim whose create failed: no trace of the id remains. */
  unclaim(id: string, session: string): void;
  /** Knows a session belongs to a record (on start, for every record in state.json). */
  bindSession(session: string, id: string): void;
  /** Sets the runtime of a running sandbox (on start, for an adopted one). */
  adopt(id: string, runtime: SandboxRuntime): void;
  /** Stores a new or changed record, announces it and persists the state; resolves with a copy. */
  commit(record: SandboxRecord): Promise<SandboxRecord>;
  /**
   * Records that a running sandbox has ended (stopped on request, or dead): the one place that builds an ended
   * record. Its runtime is forgotten. Resolves with a copy of the new record.
   */
  markEnded(id: string, status: "stopped" | "dead", end: EndInfo): Promise<SandboxRecord>;
  /** Removes the record and its session, persists, runs `cleanup` (its files), then announces the deletion. */
  remove(id: string, cleanup: () => Promise<unknown>): Promise<void>;
  /** Persists the records as they are. */
  save(): Promise<void>;
  /** Runs operations on one sandbox one after another (stop, delete and liveness may race otherwise). */
  withIdLock<T>(id: string, fn: () => Promise<T>): Promise<T>;
  /** Keeps `promise` among the operations close() waits for. */
  track<T>(promise: Promise<T>): Promise<T>;
  /** Resolves once every tracked operation has settled. */
  settled(): Promise<void>;
  onEvent(listener: (event: SandboxEvent) => void): () => void;
  /** Drops every listener. */
  clearListeners(): void;
}

export function createRegistry(loaded: Map<string, SandboxRecord>, store: StateStore): SandboxRegistry {
  const records = loaded;
  const runtimes = new Map<string, SandboxRuntime>();
  const sessionToId = new Map<string, string>();
  const listeners = new Set<(event: SandboxEvent) => void>();
  const idLocks = new Map<string, Promise<unknown>>();
  const inFlight = new Set<Promise<unknown>>();

  function emit(event: SandboxEvent): void {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch {
        // A listener that throws must not break the manager or the other listeners.
      }
    }
  }

  const save = () => store.save(records.values());

  async function commit(record: SandboxRecord): Promise<SandboxRecord> {
    const known = records.has(record.id);
    records.set(record.id, record);
    try {
      await save();
    } catch (error) {
      // Not saved (no space for state.json, say). A new record then never existed for anyone: undone and never
      // announced, or watchers would keep a sandbox nobody can get. A change to a known one did happen (a stop's
      // teardown): it is announced, and the next save that succeeds writes it.
      if (!known) records.delete(record.id);
      else emit({ type: "upserted", sandbox: copyRecord(record) });
      throw error;
    }
    emit({ type: "upserted", sandbox: copyRecord(record) });
    return copyRecord(record);
  }

  function track<T>(promise: Promise<T>): Promise<T> {
    inFlight.add(promise);
    void promise.catch(() => {}).finally(() => inFlight.delete(promise));
    return promise;
  }

  const registry: SandboxRegistry = {
    get: (id) => (typeof id === "string" ? records.get(id) : undefined),
    require(id) {
      const record = registry.get(id);
      if (record === undefined) throw notFound(String(id));
      return record;
    },
    has: (id) => records.has(id),
    records: () => [...records.values()],
    sessionOf: (record) => record.tmux_session ?? sessionName(record.id),
    idOfSession: (session) => sessionToId.get(session),
    runtime: (id) => runtimes.get(id),
    running() {
      const result: { record: SandboxRecord; runtime: SandboxRuntime }[] = [];
      for (const record of records.values()) {
        const runtime = runtimes.get(record.id);
        if (record.status === "running" && runtime !== undefined) result.push({ record, runtime });
      }
      return result;
    },
    claim(id, session, runtime) {
      if (records.has(id) || runtimes.has(id) || sessionToId.has(session)) return false;
      runtimes.set(id, runtime);
      sessionToId.set(session, id);
      return true;
    },
    unclaim(id, session) {
      records.delete(id);
      runtimes.delete(id);
      sessionToId.delete(session);
    },
    bindSession(session, id) {
      sessionToId.set(session, id);
    },
    adopt(id, runtime) {
      runtimes.set(id, runtime);
    },
    commit,
    markEnded(id, status, end) {
      const record = registry.require(id);
      runtimes.delete(id);
      return commit({
        ...record,
        status,
        stopped_at: new Date().toISOString(),
        exit_code: end.exitCode ?? null,
        exit_signal: end.exitSignal ?? null,
        status_reason: end.reason,
      });
    },
    async remove(id, cleanup) {
      const record = records.get(id);
      if (record === undefined) return;
      const session = registry.sessionOf(record);
      const runtime = runtimes.get(id);
      records.delete(id);
      runtimes.delete(id);
      sessionToId.delete(session);
      try {
        await save();
      } catch (error) {
        // Not saved (no space for state.json, say): the record stays, or it would vanish from every answer
        // yet come back at the next start, with its files never removed.
        records.set(id, record);
        if (runtime !== undefined) runtimes.set(id, runtime);
        sessionToId.set(session, id);
        throw error;
      }
      await cleanup();
      emit({ type: "deleted", id });
    },
    save,
    withIdLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
      const previous = idLocks.get(id) ?? Promise.resolve();
      const next = previous.then(fn, fn);
      const settled = next.catch(() => {});
      idLocks.set(id, settled);
      void settled.then(() => {
        if (idLocks.get(id) === settled) idLocks.delete(id);
      });
      return track(next);
    },
    track,
    async settled() {
      await Promise.allSettled([...inFlight]);
    },
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    clearListeners() {
      listeners.clear();
    },
  };
  return registry;
}

export const copyRecord = (record: SandboxRecord): SandboxRecord => ({
  ...record,
  agent_args: [...record.agent_args],
});
