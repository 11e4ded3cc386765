import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SandboxManager } from "../../server/sandbox/sandbox-manager.js";
import type { SandboxEvent, SandboxRecord } from "../../server/sandbox/types.js";
import {
  createHarness,
  type Harness,
  launcherPid,
  leftoverProcesses,
  readLog,
  staleXFiles,
  tmuxSessions,
} from "../helpers/manager-harness.js";
import { pidAlive, waitUntil } from "../helpers/wait.js";

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  await h.cleanup();
});

/** Resolves with the first upserted record of `id` whose status is dead, failing after `timeoutMs`. */
function deadEvent(manager: SandboxManager, id: string, timeoutMs: number): Promise<SandboxRecord> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sandbox not dead within ${timeoutMs} ms`)), timeoutMs);
    const off = manager.onEvent((event: SandboxEvent) => {
      if (event.type === "upserted" && event.sandbox.id === id && event.sandbox.status === "dead") {
        clearTimeout(timer);
        off();
        resolve(event.sandbox);
      }
    });
  });
}

async function expectNothingLeft(record: SandboxRecord): Promise<void> {
  expect(pidAlive(record.pid_xvfb as number)).toBe(false);
  expect(staleXFiles(record.display_num as number)).toEqual([]);
  expect(tmuxSessions(h.stateDir)).not.toContain(record.tmux_session);
  expect(await leftoverProcesses(h.root)).toEqual([]);
}

describe("manager liveness", () => {
  it("marks a sandbox dead with exit_code 3 within 5 s when its launcher exits 3, and cleans up", async () => {
    const manager = await h.open();
    const created = await manager.create({
      name: "exits",
      backend: "bubblewrap",
      projectDir: h.projectDir,
      agentArgs: ["children", "2", "sleep-ms", "300", "exit", "3"],
    });
    const started = Date.now();
    const dead = await deadEvent(manager, created.id, 5000);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(dead).toMatchObject({ status: "dead", exit_code: 3, exit_signal: null });
    expect(dead.status_reason).toContain("status 3");
    expect(dead.stopped_at).not.toBeNull();
    expect(manager.get(created.id)).toEqual(dead);
    // The background children (one in its own session) went with it, and so did Xvfb.
    await expectNothingLeft(created);
    expect(await readLog(manager.logPath(created.id))).toContain("children-started");
    // Stopping a dead sandbox is fine and does not change it.
    expect(await manager.stop(created.id)).toEqual(dead);
  });

  it("records the signal when the launcher is killed by one", async () => {
    const manager = await h.open();
    const created = await manager.create({ name: "killed", backend: "container", projectDir: h.projectDir });
    const dead = deadEvent(manager, created.id, 5000);
    const launcher = await launcherPid(manager.tmuxSocket, created.tmux_session as string);
    process.kill(launcher, "SIGKILL");
    expect(await dead).toMatchObject({ status: "dead", exit_code: null, exit_signal: "SIGKILL" });
    await expectNothingLeft(created);
  });

  it("notices an Xvfb that dies and marks the sandbox dead with a reason, ending its session", async () => {
    const manager = await h.open();
    const created = await manager.create({ name: "xvfb-dies", backend: "vm", projectDir: h.projectDir });
    const dead = deadEvent(manager, created.id, 5000);
    process.kill(created.pid_xvfb as number, "SIGKILL");
    const record = await dead;
    expect(record.status).toBe("dead");
    expect(record.status_reason).toMatch(/Xvfb.*exited/);
    await expectNothingLeft(created);
  });

  it("notices a session closed from outside", async () => {
    const manager = await h.open();
    const keep = await manager.create({ name: "keep", backend: "bubblewrap", projectDir: h.projectDir });
    const gone = await manager.create({ name: "gone", backend: "bubblewrap", projectDir: h.projectDir });
    const dead = deadEvent(manager, gone.id, 5000);
    execFileSync("tmux", ["-S", manager.tmuxSocket, "kill-session", "-t", `=${gone.tmux_session}`]);
    const record = await dead;
    expect(record.status_reason).toContain("closed outside the manager");
    expect(pidAlive(gone.pid_xvfb as number)).toBe(false);
    expect(manager.get(keep.id).status).toBe("running");
  });

  it("notices when the whole tmux server is killed", async () => {
    const manager = await h.open();
    const created = await manager.create({ name: "server", backend: "bubblewrap", projectDir: h.projectDir });
    const dead = deadEvent(manager, created.id, 5000);
    execFileSync("tmux", ["-S", manager.tmuxSocket, "kill-server"]);
    // A create right away starts a new server; the sandbox of the old one must still be seen as gone.
    const next = await manager.create({ name: "next", backend: "bubblewrap", projectDir: h.projectDir });
    expect((await dead).status).toBe("dead");
    expect(pidAlive(created.pid_xvfb as number)).toBe(false);
    expect(manager.get(next.id).status).toBe("running");
    await manager.delete(next.id);
    await expectNothingLeft(created);
  });

  it("stops a launcher that ignores SIGTERM with SIGKILL after the grace period, children included", async () => {
    const manager = await h.open();
    const created = await manager.create({
      name: "stubborn",
      backend: "bubblewrap",
      projectDir: h.projectDir,
      agentArgs: ["ignore-term", "children", "2"],
    });
    await waitUntil("children started", async () =>
      (await readLog(manager.logPath(created.id))).includes("children-started"),
    );
    const started = Date.now();
    const stopped = await manager.stop(created.id);
    expect(stopped.status).toBe("stopped");
    expect(Date.now() - started).toBeLessThan(10_000);
    await expectNothingLeft(created);
  });

  it("still notices a launcher exit when the tmux hook cannot report it", async () => {
    const manager = await h.open();
    const release = join(h.root, "release");
    const created = await manager.create({
      name: "no-hook",
      backend: "bubblewrap",
      projectDir: h.projectDir,
      agentArgs: ["wait-file", release, "exit", "5"],
    });
    execFileSync("tmux", ["-S", manager.tmuxSocket, "set-hook", "-gu", "pane-died"]);
    const dead = deadEvent(manager, created.id, 5000);
    writeFileSync(release, "");
    const record = await dead;
    expect(record, record.status_reason).toMatchObject({ status: "dead", exit_code: 5 });
    await expectNothingLeft(created);
  });
});
