// The attacks of the limits tests, each bounded by itself so that a limit that fails costs the host nothing: the
// fork bomb stops at 300 processes, the memory hog at 256 MiB, the filler at the size it is given.
import { existsSync, readFileSync } from "node:fs";
import { cgroupV1DirsOf } from "../../server/tools/cgroup-limits.js";
import { requires } from "./requires.js";

/**
 * Forks up to 300 children that sleep, counts the forks the kernel refused, holds the children `holdSeconds`
 * (for a look at the sandbox meanwhile), then ends them. Python's fork fails at once with EAGAIN, where bash's
 * would retry for seconds.
 */
export const forkBomb = (holdSeconds = 0): string =>
  [
    "import os, signal, time",
    "kids, failed = [], 0",
    "for i in range(300):",
    "    try:",
    "        pid = os.fork()",
    "    except BlockingIOError:",
    "        failed += 1",
    "        continue",
    "    if pid == 0:",
    "        time.sleep(60)",
    "        os._exit(0)",
    "    kids.append(pid)",
    'print("forked", len(kids), "failed", failed, flush=True)',
    `time.sleep(${holdSeconds})`,
    "for k in kids: os.kill(k, signal.SIGKILL)",
    "for k in kids: os.waitpid(k, 0)",
  ].join("\n");

/** Touches 256 MiB page by page; prints "hog survived" if nothing stopped it. */
export const MEMORY_HOG = [
  "b = bytearray(256 << 20)",
  "for i in range(0, len(b), 4096): b[i] = 1",
  'print("hog survived", flush=True)',
].join("\n");

/** Writes N bytes of zeros to PATH; prints "filled <size written> <error>" either way. */
export const fillScript = (path: string, bytes: number): string =>
  `err=$(head -c ${bytes} /dev/zero 2>&1 >"${path}"); echo "filled $(stat -c %s "${path}") $err"`;

/**
 * Why the cgroup limits cannot be tested here, or null: they need root (requires.ts, which prints the reason) and
 * a memory and a pids controller, in cgroup v1 or v2. A missing controller is printed as a skip reason too.
 */
export async function whyNoCgroupLimits(): Promise<string | null> {
  const root = requires("root");
  if (root !== false) return root;
  const v1 = await cgroupV1DirsOf();
  const v2 = existsSync("/sys/fs/cgroup/cgroup.controllers")
    ? readFileSync("/sys/fs/cgroup/cgroup.controllers", "utf8")
    : "";
  for (const c of ["memory", "pids"] as const) {
    if (!v1.has(c) && !v2.split(/\s+/).includes(c)) {
      const reason = `needs a ${c} controller (cgroup v1 or v2), which this host lacks`;
      process.stderr.write(`skipped the cgroup limit tests: ${reason}\n`);
      return reason;
    }
  }
  return null;
}
