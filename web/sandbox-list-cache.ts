// GET /api/sandboxes without rebuilding the list for every request. ListSandboxes of 1000 sandboxes costs tens of
// milliseconds of the daemon's one thread (each Sandbox built, then encoded and decoded by the in-process
// transport), and the JSON as much again; a client polling the list every second would keep the daemon busy.
// Instead the gateway follows WatchSandboxes: a snapshot, then each change, every sandbox kept as its JSON, and
// the body rebuilt only after a change. What no event reports (a running sandbox's resource usage) is read
// again when it is older than usageMaxAgeMs.
import type { Sandbox } from "../client/index.js";
import { type SandboxClient, SandboxStatus } from "../client/index.js";
import { toSandboxJson } from "./sandbox-json.js";

export interface SandboxListCache {
  /** Every sandbox as the REST API's JSON array, newest first. */
  json(): Promise<Buffer>;
  /**
   * Resolves once the list shows a change the caller has just made (`done` holds for the sandbox as the list has
   * it, undefined when absent), so the caller's next read sees it; or after settleMs, when the watch is dropped
   * and taken up again, since it has fallen behind.
   */
  settled(id: string, done: (sandbox: Sandbox | undefined) => boolean): Promise<void>;
}

export interface SandboxListCacheOptions {
  /** Aborted when the daemon shuts down: the watch ends, and lists are read directly from then on. */
  shutdown: AbortSignal;
  log(line: string): void;
  /** How old a running sandbox's usage may be in the list; default 2 s. */
  usageMaxAgeMs?: number;
  /** How long settled() waits for the watch; default 2 s. */
  settleMs?: number;
  /** Least time between two attempts to watch after one failed; default 1 s. */
  retryMs?: number;
}

interface Entry {
  sandbox: Sandbox;
  json: string;
  /** When the sandbox was read (its usage is as of then). */
  readAt: number;
}

export function createSandboxListCache(
  reader: SandboxClient,
  options: SandboxListCacheOptions,
): SandboxListCache {
  const { shutdown, log } = options;
  const usageMaxAgeMs = options.usageMaxAgeMs ?? 2000;
  const settleMs = options.settleMs ?? 2000;
  const retryMs = options.retryMs ?? 1000;

  let entries = new Map<string, Entry>();
  const running = new Set<string>();
  let body: Buffer | undefined;
  // A watch has delivered its snapshot and is still open: only then does the cache answer.
  let live = false;
  let starting: Promise<void> | undefined;
  let stopWatch: AbortController | undefined;
  let failedAt = Number.NEGATIVE_INFINITY;
  let refreshing: Promise<void> | undefined;
  const waiters = new Set<() => void>();

  const put = (sandbox: Sandbox, readAt = Date.now()) => {
    entries.set(sandbox.id, { sandbox, json: JSON.stringify(toSandboxJson(sandbox)), readAt });
    if (sandbox.status === SandboxStatus.RUNNING) running.add(sandbox.id);
    else running.delete(sandbox.id);
  };
  const changed = () => {
    body = undefined;
    for (const wake of waiters) wake();
  };

  async function watch(onReady: () => void): Promise<void> {
    const stop = new AbortController();
    stopWatch = stop;
    try {
      for await (const message of reader.watchSandboxes(
        {},
        { signal: AbortSignal.any([shutdown, stop.signal]) },
      )) {
        const { event } = message;
        if (event.case === "snapshot") {
          entries = new Map();
          running.clear();
          const now = Date.now();
          for (const sandbox of event.value.sandboxes) put(sandbox, now);
          live = true;
          onReady();
        } else if (event.case === "upserted") {
          put(event.value);
        } else if (event.case === "deleted") {
          entries.delete(event.value.id);
          running.delete(event.value.id);
        } else {
          continue;
        }
        changed();
      }
    } catch (err) {
      if (!shutdown.aborted && !stop.signal.aborted) {
        log(
          `the sandbox list stopped following changes (${messageOf(err)}); lists are read directly until it resumes`,
        );
      }
    } finally {
      live = false;
      entries = new Map();
      running.clear();
      starting = undefined;
      failedAt = Date.now();
      onReady();
      changed();
    }
  }

  function ensureWatch(): Promise<void> {
    if (live) return Promise.resolve();
    if (starting !== undefined) return starting;
    if (shutdown.aborted || Date.now() - failedAt < retryMs) return Promise.resolve();
    starting = new Promise<void>((resolve) => void watch(resolve));
    return starting;
  }

  /** Reads running sandboxes whose usage is too old again; one round at a time, shared by concurrent requests. */
  function refreshUsage(): Promise<void> {
    if (refreshing !== undefined) return refreshing;
    const now = Date.now();
    const stale = [...running].filter((id) => {
      const entry = entries.get(id);
      return entry !== undefined && entry.sandbox.usage !== undefined && now - entry.readAt >= usageMaxAgeMs;
    });
    if (stale.length === 0) return Promise.resolve();
    const round = Promise.all(
      stale.map(async (id) => {
        try {
          const { sandbox } = await reader.getSandbox({ id });
          // A sandbox ends and is deleted only once: a read that left while it ran and came back after the watch
          // told of its end or deletion is older than what the list has, and is dropped.
          if (sandbox !== undefined && entries.get(id)?.sandbox.status === SandboxStatus.RUNNING) {
            put(sandbox);
            changed();
          }
        } catch {
          // Deleted meanwhile: the watch says so.
        }
      }),
    ).then(() => {
      refreshing = undefined;
    });
    refreshing = round;
    return round;
  }

  function build(): Buffer {
    const sorted = [...entries.values()].sort((a, b) => newestFirst(a.sandbox, b.sandbox));
    return Buffer.from(`[${sorted.map((e) => e.json).join(",")}]`);
  }

  return {
    async json() {
      await ensureWatch();
      if (!live) {
        const { sandboxes } = await reader.listSandboxes({});
        return Buffer.from(JSON.stringify(sandboxes.map(toSandboxJson)));
      }
      await refreshUsage();
      body ??= build();
      return body;
    },

    settled(id, done) {
      const holds = () => !live || done(entries.get(id)?.sandbox);
      if (holds()) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const finish = () => {
          clearTimeout(timer);
          waiters.delete(wake);
          resolve();
        };
        const wake = () => {
          if (holds()) finish();
        };
        const timer = setTimeout(() => {
          log(`the sandbox list did not show a change to ${id} within ${settleMs} ms; reading it afresh`);
          stopWatch?.abort();
          finish();
        }, settleMs);
        waiters.add(wake);
      });
    },
  };
}

/** The manager's order: newest first, then by id. */
function newestFirst(a: Sandbox, b: Sandbox): number {
  const as = a.createdAt?.seconds ?? 0n;
  const bs = b.createdAt?.seconds ?? 0n;
  if (as !== bs) return as > bs ? -1 : 1;
  const an = a.createdAt?.nanos ?? 0;
  const bn = b.createdAt?.nanos ?? 0;
  if (an !== bn) return bn - an;
  return a.id.localeCompare(b.id);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
