import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import {
  handleOf,
  isRunning,
  parseProcStat,
  processTree,
  signalProcess,
  terminateProcesses,
} from "../../server/tools/process-identity.js";
import { holdsWithin } from "../helpers/wait.js";

describe("process identity", () => {
  it("parses /proc/<pid>/stat even when the command name holds spaces and parentheses", () => {
    const line = "4242 (we ird) (name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
    expect(parseProcStat(line)).toEqual({
      pid: 4242,
      state: "S",
      ppid: 1,
      pgid: 4242,
      sid: 4242,
      startTime: "987654",
      cpuTicks: 3,
      childCpuTicks: 0,
      rssPages: 10,
    });
    expect(parseProcStat("garbage")).toBeNull();
  });

  it("names this process by pid and start time, and refuses a handle whose start time differs", async () => {
    const self = await handleOf(process.pid);
    expect(self).not.toBeNull();
    expect(await isRunning(self as NonNullable<typeof self>)).toBe(true);
    const reused = { pid: process.pid, startTime: "1" };
    expect(await isRunning(reused)).toBe(false);
    // A handle that does not match is never signalled (this would otherwise kill the test runner).
    expect(await signalProcess(reused, "SIGKILL")).toBe(false);
    expect(await handleOf(0)).toBeNull();
    expect(await handleOf(2 ** 31)).toBeNull();
  });

  it("finds a process tree including a child in its own session, and terminates all of it", async () => {
    const leader = spawn("bash", ["-c", "sleep 30 & setsid sleep 31 & wait"], {
      detached: true,
      stdio: "ignore",
    });
    const exited = once(leader, "exit");
    try {
      let tree: Awaited<ReturnType<typeof processTree>> = [];
      await holdsWithin(
        async () => {
          tree = await processTree(leader.pid as number);
          return tree.length >= 3;
        },
        1000,
        10,
      );
      expect(tree.length).toBe(3);
      await terminateProcesses(tree, 1000);
      for (const p of tree) expect(await isRunning(p)).toBe(false);
    } finally {
      try {
        process.kill(-(leader.pid as number), "SIGKILL");
      } catch {
        // already gone
      }
      await exited;
    }
  });

  it("resolves a termination only once a process this one did not start is gone, not a zombie left to init", async () => {
    // The shell exits at once, so the sleep's parent becomes init (or a subreaper): like an adopted Xvfb, it
    // lingers as a zombie after it dies until that parent reaps it.
    const starter = spawn("sh", ["-c", "sleep 30 >/dev/null 2>&1 & echo $!"], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    const [out] = (await once(starter.stdout, "data")) as [Buffer];
    const orphan = await handleOf(Number(out.toString().trim()));
    expect(orphan).not.toBeNull();
    const handle = orphan as NonNullable<typeof orphan>;
    await terminateProcesses([handle], 1000);
    // Not even a zombie: no /proc entry with its start time.
    expect(await handleOf(handle.pid)).not.toEqual(handle);
  });
});
