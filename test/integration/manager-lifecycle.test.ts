import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SandboxEvent } from "../../server/sandbox/types.js";
import {
  createHarness,
  type Harness,
  leftoverProcesses,
  processesMentioning,
  readLog,
  staleXFiles,
  tmuxServerPid,
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

describe("manager lifecycle with the fixture launcher", () => {
  it("creates a running sandbox with its own display, logs its first line, stops and deletes cleanly", async () => {
    const manager = await h.open();
    const events: SandboxEvent[] = [];
    manager.onEvent((e) => events.push(e));

    const created = await manager.create({
      name: "one",
      backend: "bubblewrap",
      projectDir: `${h.projectDir}/./`,
      network: false,
      agentArgs: ["xdpyinfo", "print", "semi;"],
    });
    expect(created).toMatchObject({
      name: "one",
      backend: "bubblewrap",
      project_dir: h.projectDir,
      status: "running",
      network: false,
      shell: false,
      agent_args: ["xdpyinfo", "print", "semi;"],
      tmux_session: `sandbox-${created.id.slice(0, 8)}`,
      stopped_at: null,
      exit_code: null,
    });
    const display = created.display_num as number;
    expect(display).toBeGreaterThanOrEqual(50);
    expect(created.pid_xvfb).toBeGreaterThan(0);
    expect(pidAlive(created.pid_xvfb as number)).toBe(true);
    expect(Number.isNaN(Date.parse(created.created_at))).toBe(false);
    expect(manager.get(created.id)).toEqual(created);
    expect(manager.list()).toEqual([created]);
    expect(events).toEqual([{ type: "upserted", sandbox: created }]);
    expect(tmuxSessions(h.stateDir)).toEqual([created.tmux_session]);
    expect(manager.tmuxSocket).toBe(join(h.stateDir, "tmux.sock"));

    // The launcher's very first line (printed at once) is in the log, with the argv the manager built.
    const logPath = manager.logPath(created.id);
    const log = await waitUntil("the display check in the log", async () => {
      const text = await readLog(logPath);
      return text.includes("display-") && text.includes("semi;") ? text : undefined;
    });
    // The project is handed over as the manager's descriptor of the directory it checked, which leads there.
    const [argvLine, projectLine] = log.split(/\r?\n/);
    expect(argvLine?.replace(new RegExp(`/proc/${process.pid}/fd/\\d+ `), "<project fd> ")).toBe(
      `fixture-launcher claude-sandbox argv=[--new --die-with-parent --no-network <project fd> -- xdpyinfo print semi;] display=:${display}`,
    );
    expect(projectLine).toBe(`fixture-launcher project=${h.projectDir}`);
    // xdpyinfo inside the sandbox reached the display with the cookie (no -ac) at the configured size.
    expect(log).toContain("display-ok 640x480");
    expect(xFilesOf(display)).toContain(`/tmp/.X11-unix/X${display}`);
    // Without the cookie the display refuses clients.
    expect(() =>
      execFileSync("xdpyinfo", ["-display", `:${display}`], {
        env: { ...process.env, XAUTHORITY: "/dev/null" },
        stdio: "ignore",
      }),
    ).toThrow();

    const stopped = await manager.stop(created.id);
    expect(stopped).toMatchObject({ status: "stopped", exit_code: null });
    expect(stopped.stopped_at).not.toBeNull();
    expect(stopped.status_reason).not.toBe("");
    expect(pidAlive(created.pid_xvfb as number)).toBe(false);
    expect(staleXFiles(display)).toEqual([]);
    expect(tmuxSessions(h.stateDir)).toEqual([]);
    expect(await leftoverProcesses(h.root)).toEqual([]);
    expect(existsSync(join(h.stateDir, "run", `${created.id}.xauth`))).toBe(false);
    expect(events.at(-1)).toEqual({ type: "upserted", sandbox: stopped });

    // Stopping again is fine and changes nothing.
    const eventCount = events.length;
    expect(await manager.stop(created.id)).toEqual(stopped);
    expect(events.length).toBe(eventCount);

    await manager.delete(created.id);
    expect(existsSync(logPath)).toBe(false);
    expect(events.at(-1)).toEqual({ type: "deleted", id: created.id });
    expect(() => manager.get(created.id)).toThrow(expect.objectContaining({ kind: "not_found" }));
    expect(manager.list()).toEqual([]);

    // The tmux server is the manager's: up without sessions while it runs, gone (not even a zombie) once it closes.
    const server = tmuxServerPid(h.stateDir);
    expect(server).not.toBeNull();
    await manager.close();
    expect(tmuxServerPid(h.stateDir)).toBeNull();
    expect(pidAlive(server as number)).toBe(false);
    expect(processesMentioning(h.root)).toEqual([]);
  });

  it("passes hostile agent arguments and project paths through tmux literally, never as commands", async () => {
    const manager = await h.open();
    const weird = join(h.root, "a dir with 'quotes' \"and\" #{pid} $(id) ;");
    mkdirSync(weird);
    const args = ["ignore", ";", "kill-server", "x;", "#{pid}", "$(id)", "`id`", "a\\;", "--", "-c", "'"];
    const record = await manager.create({
      name: "hostile",
      backend: "bubblewrap",
      projectDir: weird,
      agentArgs: args,
    });
    expect(record.project_dir).toBe(weird);
    const log = await waitUntil("the launcher line", async () => {
      const text = await readLog(manager.logPath(record.id));
      return text.includes("fixture-launcher") ? text : undefined;
    });
    const [argvLine, projectLine] = log.split(/\r?\n/);
    expect(argvLine?.replace(new RegExp(`/proc/${process.pid}/fd/\\d+ `), "<project fd> ")).toBe(
      `fixture-launcher claude-sandbox argv=[--new --die-with-parent <project fd> -- ${args.join(" ")}] display=:${record.display_num}`,
    );
    expect(projectLine).toBe(`fixture-launcher project=${weird}`);
    // The tmux server is still there (no kill-server ran), and the pane runs in the project directory.
    expect(tmuxSessions(h.stateDir)).toEqual([record.tmux_session]);
    const cwd = execFileSync(
      "tmux",
      [
        "-S",
        manager.tmuxSocket,
        "display-message",
        "-p",
        "-t",
        `=${record.tmux_session}:`,
        "#{pane_current_path}",
      ],
      { encoding: "utf8" },
    ).trim();
    expect(cwd).toBe(weird);
    await manager.delete(record.id);
  });

  it("logs what the launcher prints while it shuts down on stop", async () => {
    const manager = await h.open();
    const record = await manager.create({
      name: "last-words",
      backend: "bubblewrap",
      projectDir: h.projectDir,
      agentArgs: ["on-term", "goodbye-from-launcher", "print", "trap-set"],
    });
    await waitUntil("the launcher to be ready", async () =>
      (await readLog(manager.logPath(record.id))).includes("trap-set"),
    );
    await manager.stop(record.id);
    expect(await readLog(manager.logPath(record.id))).toContain("goodbye-from-launcher");
  });

  it("leaves nothing behind when stopped the moment create returns (launcher still starting)", async () => {
    const manager = await h.open();
    for (let i = 0; i < 5; i++) {
      const record = await manager.create({
        name: `quick-${i}`,
        backend: "bubblewrap",
        projectDir: h.projectDir,
        agentArgs: ["children", "1"],
      });
      await manager.stop(record.id);
      expect(await leftoverProcesses(h.root)).toEqual([]);
    }
  });
});
