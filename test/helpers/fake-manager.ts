// In-memory SandboxManager and LogHub for testing the service layer through createRouterTransport. They keep
// the contracts of the real ones (not_found for unknown ids, newest first, events after each change) but
// start nothing.
import type { LogEndReason, LogHub, LogRange, TailEvent, TailOptions } from "../../server/logs/log-hub.js";
import { invalidArgument, notFound } from "../../server/sandbox/errors.js";
import type { SandboxManager } from "../../server/sandbox/sandbox-manager.js";
import type {
  CreateSandboxInput,
  Requester,
  SandboxEvent,
  SandboxRecord,
} from "../../server/sandbox/types.js";

export interface FakeManager extends SandboxManager {
  /** Inputs of every create call, in order. */
  readonly creates: CreateSandboxInput[];
  /** Who asked, for every create call, in order. */
  readonly requesters: (Requester | undefined)[];
  /** Puts a record in place as if the manager had adopted it at start. */
  seed(record: SandboxRecord): void;
  /** Replaces a record and emits the upserted event, as a liveness change would. */
  update(record: SandboxRecord): void;
  /** When set, create() throws it. */
  failCreateWith?: unknown;
  readonly listenerCount: number;
}

export function fakeRecord(overrides: Partial<SandboxRecord> = {}): SandboxRecord {
  const id = overrides.id ?? "0f0e0d0c-1111-4222-8333-444455556666";
  return {
    id,
    name: "demo",
    backend: "bubblewrap",
    project_dir: "/srv/project",
    status: "running",
    display_num: 50,
    tmux_session: `sandbox-${id.slice(0, 8)}`,
    pid_xvfb: 4242,
    qemu_qmp_socket: null,
    network: true,
    created_at: "2026-11-22T10:00:00.123Z",
    stopped_at: null,
    exit_code: null,
    exit_signal: null,
    status_reason: "launcher started",
    shell: false,
    agent_args: [],
    xvfb_start_time: "12345",
    ...overrides,
  };
}

export function createFakeManager(options: { tmuxSocket?: string } = {}): FakeManager {
  const records = new Map<string, SandboxRecord>();
  const listeners = new Set<(event: SandboxEvent) => void>();
  const creates: CreateSandboxInput[] = [];
  const requesters: (Requester | undefined)[] = [];
  let counter = 0;
  const emit = (event: SandboxEvent) => {
    for (const listener of listeners) listener(event);
  };
  const must = (id: string): SandboxRecord => {
    const record = records.get(id);
    if (record === undefined) throw notFound(id);
    return record;
  };
  const manager: FakeManager = {
    creates,
    requesters,
    tmuxSocket: options.tmuxSocket ?? "/state/tmux.sock",
    get listenerCount() {
      return listeners.size;
    },
    seed(record) {
      records.set(record.id, record);
    },
    update(record) {
      records.set(record.id, record);
      emit({ type: "upserted", sandbox: record });
    },
    async create(input, requester) {
      creates.push(input);
      requesters.push(requester);
      if (manager.failCreateWith !== undefined) throw manager.failCreateWith;
      if (input.name === "") throw invalidArgument("name", "must not be empty");
      counter++;
      const id = `${String(counter).padStart(8, "0")}-aaaa-4bbb-8ccc-dddddddddddd`;
      const record = fakeRecord({
        id,
        name: input.name,
        backend: input.backend,
        project_dir: input.projectDir,
        network: input.network ?? true,
        shell: input.shell ?? false,
        agent_args: input.agentArgs ?? [],
        // Strictly increasing so newest-first ordering is observable.
        created_at: new Date(Date.UTC(2026, 10, 22, 12, 0, counter)).toISOString(),
      });
      records.set(id, record);
      emit({ type: "upserted", sandbox: record });
      return record;
    },
    // No processes and no cgroups: nothing of a fake sandbox can be measured.
    usageSources: () => [],
    list() {
      return [...records.values()].sort((a, b) => b.created_at.localeCompare(a.created_at));
    },
    get: must,
    async stop(id) {
      const record = must(id);
      if (record.status !== "running") return record;
      const stopped: SandboxRecord = {
        ...record,
        status: "stopped",
        stopped_at: "2026-11-22T13:00:00.000Z",
        pid_xvfb: null,
        status_reason: "stopped on request",
      };
      records.set(id, stopped);
      emit({ type: "upserted", sandbox: stopped });
      return stopped;
    },
    async delete(id) {
      must(id);
      records.delete(id);
      emit({ type: "deleted", id });
    },
    displays() {
      // No real X server behind a fake: nothing to capture.
      return [];
    },
    logPath(id) {
      must(id);
      return `/state/logs/${id}.log`;
    },
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {},
  };
  return manager;
}

export interface FakeLogHub extends LogHub {
  /** Log contents by path. */
  readonly files: Map<string, Buffer>;
  readonly reads: { path: string; offset?: number; limit: number }[];
  readonly tails: { key: string; path: string; options: TailOptions }[];
  /** Sends an event to every open tail of `key`. */
  push(key: string, event: TailEvent): void;
  readonly closed: boolean;
}

/** Tails are driven by push(); end() and close() finish them the way the real hub does. */
export function createFakeLogHub(): FakeLogHub {
  const files = new Map<string, Buffer>();
  const subscribers = new Map<string, Set<(event: TailEvent | null) => void>>();
  let closed = false;
  const hub: FakeLogHub = {
    files,
    reads: [],
    tails: [],
    get closed() {
      return closed;
    },
    async read(path, options): Promise<LogRange> {
      hub.reads.push({ path, ...options });
      const file = files.get(path) ?? Buffer.alloc(0);
      const offset = options.offset ?? Math.max(0, file.length - options.limit);
      return { data: file.subarray(offset, offset + options.limit), offset, size: file.length };
    },
    tail(key, path, options) {
      hub.tails.push({ key, path, options });
      const queue: (TailEvent | null)[] = [];
      let wake: (() => void) | undefined;
      const deliver = (event: TailEvent | null) => {
        queue.push(event);
        wake?.();
      };
      return {
        async *[Symbol.asyncIterator]() {
          const set = subscribers.get(key) ?? new Set();
          subscribers.set(key, set);
          set.add(deliver);
          const onAbort = () => deliver(null);
          options.signal.addEventListener("abort", onAbort);
          try {
            for (;;) {
              const event = queue.shift();
              if (event === null) return;
              if (event === undefined) {
                await new Promise<void>((resolve) => (wake = resolve));
                wake = undefined;
                continue;
              }
              yield event;
              if (event.type === "end") return;
            }
          } finally {
            set.delete(deliver);
            options.signal.removeEventListener("abort", onAbort);
          }
        },
      };
    },
    push(key, event) {
      for (const deliver of subscribers.get(key) ?? []) deliver(event);
    },
    end(key: string, reason: LogEndReason) {
      hub.push(key, { type: "end", reason, message: `log tail ended: ${reason}`, offset: 0 });
    },
    close() {
      closed = true;
      for (const key of subscribers.keys()) {
        hub.push(key, { type: "end", reason: "shutdown", message: "manager shutting down", offset: 0 });
      }
    },
  };
  return hub;
}
