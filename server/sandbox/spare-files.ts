import { randomUUID } from "node:crypto";
import { renameSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { makeFifo } from "../tools/fifo.js";
import { writeAuthFile } from "../tools/xauth.js";

export interface SpareTools {
  xauth: string;
  mkfifo: string;
}

/**
 * The next sandbox's authority file (a fresh random cookie, used exactly once) and its pane's `go` FIFO, made
 * ahead of time: each is a process spawn that would otherwise sit on create's critical path before Xvfb may
 * start. Spares are named `spare-*` in `dir`; a later start removes any a crash left.
 */
export interface SpareFiles {
  /** Moves the spare authority file to `target`, or makes one there if no spare is ready. */
  takeAuth(xauthPath: string, target: string): Promise<void>;
  /** Moves the spare FIFO to `target`, or makes one there if no spare is ready. */
  takeFifo(mkfifoPath: string, target: string): Promise<void>;
  /** Makes the next spares; called after a create so their processes do not compete with its Xvfb. */
  prepare(tools: SpareTools): void;
  /** Removes the spares; none are made afterwards. */
  close(): Promise<void>;
}

export function createSpareFiles(dir: string): SpareFiles {
  let auth: Promise<string> | null = null;
  let fifo: Promise<string> | null = null;
  let closed = false;

  function make(suffix: string, maker: (file: string) => Promise<void>): Promise<string> {
    const file = join(dir, `spare-${randomUUID()}.${suffix}`);
    const made = maker(file).then(() => file);
    made.catch(() => {});
    return made;
  }

  async function take(spare: Promise<string> | null, target: string, fallback: () => Promise<void>) {
    const file = await spare?.catch(() => null);
    try {
      if (file === null || file === undefined) throw new Error("no spare ready");
      // Synchronous on purpose: a rename is microseconds, and a thread-pool round trip would let other work
      // (the tmux client's spawn) run before Xvfb's.
      renameSync(file, target);
    } catch {
      await fallback();
    }
  }

  return {
    takeAuth(xauthPath, target) {
      const spare = auth;
      auth = null;
      return take(spare, target, () => writeAuthFile(xauthPath, target));
    },
    takeFifo(mkfifoPath, target) {
      const spare = fifo;
      fifo = null;
      return take(spare, target, () => makeFifo(mkfifoPath, target));
    },
    prepare(tools) {
      if (closed) return;
      auth ??= make("xauth", (file) => writeAuthFile(tools.xauth, file));
      fifo ??= make("go", (file) => makeFifo(tools.mkfifo, file));
    },
    async close() {
      closed = true;
      for (const spare of await Promise.all([auth?.catch(() => null), fifo?.catch(() => null)])) {
        if (spare !== null && spare !== undefined) await rm(spare, { force: true });
      }
      auth = null;
      fifo = null;
    },
  };
}
