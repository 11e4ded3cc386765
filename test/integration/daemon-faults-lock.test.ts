// A second claude-sandbox-manager on a state directory another one serves: it must refuse, as a user running
// the same command twice sees it (exit status, one line naming the pid that holds the lock), and touch nothing
// of the first one's: not its socket, not its sandboxes, not state.json.
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Backend, SandboxStatus } from "../../client/index.js";
import { DAEMON_ENTRY } from "../helpers/build.js";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import { expectNothingOrphaned } from "../helpers/orphans.js";
import { daemonEnv, processAlive, runDaemonToExit, stopDaemon, waitUntil } from "../helpers/start-daemon.js";

const fx = useDaemonFixture();
const DISPLAY_BASE = 620;
const DISPLAYS = Array.from({ length: 10 }, (_, i) => DISPLAY_BASE + i);
const env = { MANAGER_DISPLAY_BASE: String(DISPLAY_BASE) };

describe("a second manager on the same state directory", () => {
  it("is refused with the holder's pid, exit status 1, and the first keeps its socket, sandbox and state", async () => {
    const first = await fx.start({ env });
    const { sandbox } = await first.client.createSandbox({
      name: "kept",
      backend: Backend.BUBBLEWRAP,
      projectDir: fx.projectDir,
    });
    const before = await readFile(join(first.stateDir, "state.json"), "utf8");

    // Exactly the command the user ran the first time: same state directory, same socket.
    const second = await runDaemonToExit({
      ...env,
      MANAGER_STATE_DIR: first.stateDir,
      MANAGER_LISTEN: `unix:${first.socketPath}`,
    });
    expect(second.code).toBe(1);
    const lockFile = join(first.stateDir, "manager.lock");
    expect(second.stderr).toBe(
      `claude-sandbox-manager: cannot start: another manager (pid ${first.child.pid}) is using state ` +
        `directory ${first.stateDir}; stop it first (lock file ${lockFile})\n`,
    );

    expect(await readFile(join(first.stateDir, "state.json"), "utf8")).toBe(before);
    const got = (await first.client.getSandbox({ id: sandbox?.id ?? "" })).sandbox;
    expect(got?.status).toBe(SandboxStatus.RUNNING);
    expect(processAlive(got?.pidXvfb ?? 0)).toBe(true);
    await expectNothingOrphaned(first.stateDir, {
      daemon: first,
      present: [sandbox?.id ?? ""],
      displays: DISPLAYS,
    });
  });

  it("started at the same moment as others on a fresh directory: exactly one runs, the rest name its pid", async () => {
    await expectOneWinner(await fx.stateDir());
  });

  it("started at the same moment as others beside the lock of a manager killed with -9: exactly one runs", async () => {
    const killed = await fx.start({ env });
    await stopDaemon(killed, "SIGKILL");
    await expectOneWinner(killed.stateDir);
  });
});

/** Starts several managers on `stateDir` at once: exactly one may run, the others must name its pid. */
async function expectOneWinner(stateDir: string): Promise<void> {
  const starts = Array.from({ length: 4 }, (_, i) => {
    const child = spawn(process.execPath, [DAEMON_ENTRY], {
      env: daemonEnv({
        ...env,
        MANAGER_STATE_DIR: stateDir,
        MANAGER_LISTEN: `unix:${join(stateDir, `api-${i}.sock`)}`,
      }),
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    return { child, stderr: () => stderr };
  });
  const listening = (s: (typeof starts)[number]) => s.stderr().includes("listening on ");
  try {
    await waitUntil(
      "every manager to listen or exit",
      () => starts.every((s) => s.child.exitCode !== null || listening(s)),
      20_000,
    );
    const winners = starts.filter(listening);
    expect(winners.map((w) => w.child.pid)).toHaveLength(1);
    const winner = winners[0];
    for (const loser of starts.filter((s) => s !== winner)) {
      expect(loser.child.exitCode).toBe(1);
      expect(loser.stderr()).toContain(`another manager (pid ${winner?.child.pid}) is using state directory`);
    }
    const lock = JSON.parse(await readFile(join(stateDir, "manager.lock"), "utf8")) as { pid: number };
    expect(lock.pid).toBe(winner?.child.pid);
  } finally {
    for (const s of starts) s.child.kill("SIGKILL");
  }
}
