import { spawn } from "node:child_process";
import { once } from "node:events";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  createHarness,
  type Harness,
  leftoverProcesses,
  readLog,
  staleXFiles,
  tmuxSessions,
  xFilesOf,
} from "../helpers/manager-harness.js";
import { pidAlive, waitUntil } from "../helpers/wait.js";

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  await h.cleanup();
});

describe("manager under parallel creates", () => {
  it("gives 20 parallel creates 20 distinct displays, and leaves nothing once all are deleted", async () => {
    const manager = await h.open();
    const created = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        manager.create({
          name: `p${i}`,
          backend: "bubblewrap",
          projectDir: h.projectDir,
          agentArgs: ["xdpyinfo"],
        }),
      ),
    );
    const displays = created.map((r) => r.display_num);
    expect(new Set(displays).size).toBe(20);
    expect(new Set(created.map((r) => r.tmux_session)).size).toBe(20);
    expect(created.every((r) => r.status === "running" && pidAlive(r.pid_xvfb as number))).toBe(true);
    expect(tmuxSessions(h.stateDir).sort()).toEqual(created.map((r) => r.tmux_session).sort());
    // Every sandbox reached its own display, not a neighbour's.
    for (const record of created) {
      const log = await waitUntil(`display check of ${record.name}`, async () => {
        const text = await readLog(manager.logPath(record.id));
        return /display-(ok|failed)/.test(text) ? text : undefined;
      });
      expect(log).toContain(`display=:${record.display_num}`);
      expect(log).toContain("display-ok 640x480");
    }

    await Promise.all(created.map((r) => manager.delete(r.id)));
    expect(manager.list()).toEqual([]);
    for (const record of created) {
      expect(pidAlive(record.pid_xvfb as number)).toBe(false);
      expect(staleXFiles(record.display_num as number)).toEqual([]);
    }
    expect(tmuxSessions(h.stateDir)).toEqual([]);
    expect(await leftoverProcesses(h.root)).toEqual([]);
    expect(readdirSync(join(h.stateDir, "run")).filter((f) => !f.startsWith("spare-"))).toEqual([]);
    expect(readdirSync(join(h.stateDir, "logs"))).toEqual([]);
    // The one spare authority file made ahead for the next create goes with the manager.
    await manager.close();
    expect(readdirSync(join(h.stateDir, "run"))).toEqual([]);
  });

  it("skips a display number another X server listens on, even after its socket file was deleted", async () => {
    // A server this manager did not start takes a number (Xvfb picks the lowest free one itself).
    const foreign = spawn("Xvfb", ["-nolisten", "tcp", "-displayfd", "3", "-auth", "/dev/null"], {
      stdio: ["ignore", "ignore", "ignore", "pipe"],
    });
    const exited = once(foreign, "exit");
    try {
      const ready = once(foreign.stdio[3] as NodeJS.ReadableStream, "data");
      const [chunk] = (await Promise.race([ready, exited.then(() => [null])])) as [Buffer | null];
      if (chunk === null) throw new Error("the foreign Xvfb did not start");
      const taken = Number(chunk.toString().trim());
      // Hide it from the file checks: only its listening sockets remain (seen in /proc/net/unix). Were the
      // number tried anyway, Xvfb would fail to listen and the manager would move on to the next one.
      rmSync(`/tmp/.X11-unix/X${taken}`, { force: true });
      expect(xFilesOf(taken)).toEqual([]);
      const manager = await h.open({ displayBase: taken });
      const created = await manager.create({ name: "b", backend: "bubblewrap", projectDir: h.projectDir });
      expect(created.display_num).toBeGreaterThan(taken);
      expect(created.status).toBe("running");
      await manager.delete(created.id);
    } finally {
      foreign.kill("SIGKILL");
      await exited;
    }
  });

  it("creates reliably while the last sandbox stops (the tmux server exits and restarts meanwhile)", async () => {
    const manager = await h.open();
    let previous = await manager.create({ name: "r0", backend: "bubblewrap", projectDir: h.projectDir });
    for (let i = 1; i <= 6; i++) {
      const [, next] = await Promise.all([
        manager.delete(previous.id),
        manager.create({ name: `r${i}`, backend: "bubblewrap", projectDir: h.projectDir }),
      ]);
      expect(next.status).toBe("running");
      expect(tmuxSessions(h.stateDir)).toEqual([next.tmux_session]);
      previous = next;
    }
    await manager.delete(previous.id);
    expect(await leftoverProcesses(h.root)).toEqual([]);
  });
});
