import { execFileSync, spawn } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SandboxManager } from "../../server/sandbox/sandbox-manager.js";
import type { SandboxRecord } from "../../server/sandbox/types.js";
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

function tmux(manager: SandboxManager, ...args: string[]): string {
  return execFileSync("tmux", ["-S", manager.tmuxSocket, ...args], { encoding: "utf8" });
}

function paneDead(manager: SandboxManager, record: SandboxRecord): boolean {
  return tmux(manager, "list-panes", "-t", `=${record.tmux_session}:`, "-F", "#{pane_dead}").trim() === "1";
}

describe("manager restart", () => {
  it("adopts live sandboxes, marks the rest dead and cleans them, and keeps watching the adopted ones", async () => {
    const a = await h.open();
    const release = join(h.root, "release");
    const [alive1, alive2, killed, exits] = await Promise.all([
      a.create({ name: "alive1", backend: "bubblewrap", projectDir: h.projectDir }),
      a.create({ name: "alive2", backend: "container", projectDir: h.projectDir }),
      a.create({ name: "killed", backend: "bubblewrap", projectDir: h.projectDir }),
      a.create({
        name: "exits",
        backend: "bubblewrap",
        projectDir: h.projectDir,
        agentArgs: ["wait-file", release, "exit", "7"],
      }),
    ]);
    await a.close();

    // Nothing stopped with the manager.
    for (const r of [alive1, alive2, killed, exits]) expect(pidAlive(r.pid_xvfb as number)).toBe(true);
    expect(tmuxSessions(h.stateDir).length).toBe(4);

    // While no manager runs: one session is killed, one launcher exits 7.
    tmux(a, "kill-session", "-t", `=${killed.tmux_session}`);
    writeFileSync(release, "");
    await waitUntil("the launcher to exit", () => paneDead(a, exits));

    const b = await h.open();
    expect(b.get(alive1.id)).toEqual(alive1);
    expect(b.get(alive2.id)).toEqual(alive2);
    const killedNow = b.get(killed.id);
    expect(killedNow).toMatchObject({ status: "dead", exit_code: null });
    expect(killedNow.status_reason).toContain("gone when the manager started");
    expect(b.get(exits.id)).toMatchObject({ status: "dead", exit_code: 7 });
    // Leftovers of the dead ones are gone: Xvfb (verified by start time), X files, sessions, auth files.
    for (const r of [killed, exits]) {
      expect(pidAlive(r.pid_xvfb as number)).toBe(false);
      expect(staleXFiles(r.display_num as number)).toEqual([]);
    }
    expect(tmuxSessions(h.stateDir).sort()).toEqual([alive1.tmux_session, alive2.tmux_session].sort());

    // Logging continues for adopted sandboxes (pipe-pane lives in tmux).
    tmux(b, "send-keys", "-t", `=${alive1.tmux_session}:`, "-l", "typed-after-restart");
    await waitUntil("output after restart", async () =>
      (await readLog(b.logPath(alive1.id))).includes("typed-after-restart"),
    );

    // Liveness still works on adopted sandboxes: a killed launcher and a killed Xvfb are both noticed.
    const deaths = new Map<string, SandboxRecord>();
    b.onEvent((e) => {
      if (e.type === "upserted" && e.sandbox.status === "dead") deaths.set(e.sandbox.id, e.sandbox);
    });
    const launcher = await launcherPid(b.tmuxSocket, alive1.tmux_session as string);
    process.kill(launcher, "SIGTERM");
    process.kill(alive2.pid_xvfb as number, "SIGKILL");
    const dead1 = await waitUntil("adopted launcher death", () => deaths.get(alive1.id), 5000);
    expect(dead1).toMatchObject({ exit_signal: "SIGTERM" });
    const dead2 = await waitUntil("adopted Xvfb death", () => deaths.get(alive2.id), 5000);
    expect(dead2.status_reason).toMatch(/Xvfb/);
    expect(tmuxSessions(h.stateDir)).toEqual([]);
    expect(pidAlive(alive1.pid_xvfb as number)).toBe(false);
  });

  it("stops an adopted sandbox by its recorded handles", async () => {
    const a = await h.open();
    const created = await a.create({ name: "adopted", backend: "bubblewrap", projectDir: h.projectDir });
    await a.close();
    const b = await h.open();
    const stopped = await b.stop(created.id);
    expect(stopped.status).toBe("stopped");
    expect(pidAlive(created.pid_xvfb as number)).toBe(false);
    expect(staleXFiles(created.display_num as number)).toEqual([]);
    expect(tmuxSessions(h.stateDir)).toEqual([]);
  });

  it("refuses a second manager on the same state directory, and takes over once the first is closed", async () => {
    const a = await h.open();
    await expect(h.open()).rejects.toMatchObject({
      kind: "failed_precondition",
      message: expect.stringContaining(`another manager (pid ${process.pid})`),
    });
    await a.close();
    const b = await h.open();
    expect(b.list()).toEqual([]);
  });

  it("takes over a lock left by a manager that no longer runs", async () => {
    const { mkdirSync } = await import("node:fs");
    mkdirSync(h.stateDir, { recursive: true });
    // pid 1 exists, but not with this start time: the lock is stale.
    writeFileSync(join(h.stateDir, "manager.lock"), JSON.stringify({ pid: 1, start_time: "1" }));
    const manager = await h.open();
    expect(manager.list()).toEqual([]);
  });

  it("never signals a recorded Xvfb pid that now belongs to another process", async () => {
    const a = await h.open();
    const created = await a.create({ name: "reused", backend: "bubblewrap", projectDir: h.projectDir });
    await a.close();
    tmux(a, "kill-session", "-t", `=${created.tmux_session}`);
    process.kill(created.pid_xvfb as number, "SIGKILL");
    await waitUntil("Xvfb gone", () => !pidAlive(created.pid_xvfb as number));
    // Simulate pid reuse: the record now points at a live, unrelated process with another start time.
    const decoy = spawn("sleep", ["60"], { stdio: "ignore" });
    try {
      const file = join(h.stateDir, "state.json");
      const state = JSON.parse(readFileSync(file, "utf8"));
      state.sandboxes[created.id].pid_xvfb = decoy.pid;
      writeFileSync(file, JSON.stringify(state));
      const b = await h.open();
      expect(b.get(created.id).status).toBe("dead");
      expect(pidAlive(decoy.pid as number)).toBe(true);
      await b.delete(created.id);
      expect(pidAlive(decoy.pid as number)).toBe(true);
    } finally {
      decoy.kill("SIGKILL");
    }
  });

  it("cleans up what a create interrupted by a crash left: session, Xvfb and files without a record", async () => {
    const a = await h.open();
    const created = await a.create({ name: "orphan", backend: "bubblewrap", projectDir: h.projectDir });
    await a.close();
    // As if the manager died after starting everything but before saving the record.
    writeFileSync(join(h.stateDir, "state.json"), JSON.stringify({ schema_version: 1, sandboxes: {} }));
    const b = await h.open();
    expect(b.list()).toEqual([]);
    expect(pidAlive(created.pid_xvfb as number)).toBe(false);
    expect(staleXFiles(created.display_num as number)).toEqual([]);
    expect(tmuxSessions(h.stateDir)).toEqual([]);
    expect(readdirSync(join(h.stateDir, "run"))).toEqual([]);
    expect(await leftoverProcesses(h.root)).toEqual([]);
  });

  it("refuses to start without tmux when sandboxes are running, rather than declaring them dead", async () => {
    const a = await h.open();
    const created = await a.create({ name: "keep", backend: "bubblewrap", projectDir: h.projectDir });
    await a.close();
    const error = await h.open({ path: "/nonexistent" }).catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: "failed_precondition" });
    expect((error as Error).message).toContain("tmux was not found");
    expect(pidAlive(created.pid_xvfb as number)).toBe(true);
    const b = await h.open();
    expect(b.get(created.id).status).toBe("running");
  });

  it("leaves a consistent state when close() meets a create in flight: finished and adopted, or never started", async () => {
    const a = await h.open();
    const creating = a.create({ name: "late", backend: "bubblewrap", projectDir: h.projectDir });
    const closing = a.close();
    const outcome = await creating.then(
      (record) => ({ record }),
      (error: unknown) => ({ error }),
    );
    await closing;
    await expect(
      a.create({ name: "after", backend: "bubblewrap", projectDir: h.projectDir }),
    ).rejects.toMatchObject({
      kind: "unavailable",
    });
    const b = await h.open();
    if ("record" in outcome) {
      expect(b.get(outcome.record.id)).toEqual(outcome.record);
    } else {
      expect(outcome.error).toMatchObject({ kind: "unavailable" });
      expect(b.list()).toEqual([]);
      expect(tmuxSessions(h.stateDir)).toEqual([]);
    }
  });
});
