// Each sandbox the manager starts runs in a cgroup of its own (cgroup v2), from its launcher's first instruction on,
// and nothing of it survives its deletion: not even a process that left its process tree, which only the cgroup
// still knows. Real daemon, real tmux and Xvfb, the fixture launcher; the daemon runs as root, which may make
// cgroups here (cgroup2 at /sys/fs/cgroup/unified on this host, /sys/fs/cgroup elsewhere).
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { Backend } from "../../client/index.js";
import { cgroupDirOf } from "../../server/tools/cgroup.js";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import { requires } from "../helpers/requires.js";
import type { Daemon } from "../helpers/start-daemon.js";
import { pidAlive, waitUntil } from "../helpers/wait.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root");

const fx = useDaemonFixture();

const strays: number[] = [];

afterEach(async () => {
  for (const pid of strays.splice(0)) if (pidAlive(pid)) process.kill(pid, "SIGKILL");
});

async function panePid(daemon: Daemon, session: string): Promise<number> {
  const { stdout } = await promisify(execFile)("tmux", [
    "-S",
    join(daemon.stateDir, "tmux.sock"),
    "list-panes",
    "-t",
    `=${session}`,
    "-F",
    "#{pane_pid}",
  ]);
  return Number(stdout.trim());
}

async function started(daemon: Daemon, name: string): Promise<{ id: string; session: string }> {
  const { sandbox } = await daemon.client.createSandbox({
    name,
    backend: Backend.BUBBLEWRAP,
    projectDir: fx.projectDir,
  });
  if (sandbox === undefined) throw new Error("no sandbox in the response");
  await waitUntil("the launcher's first line", async () =>
    Buffer.from((await daemon.client.getLogs({ id: sandbox.id })).data)
      .toString()
      .includes("fixture-launcher DISPLAY="),
  );
  return { id: sandbox.id, session: sandbox.tmuxSession ?? "" };
}

/** The children of `pid`, from /proc (the launcher the pane's wrapper started). */
async function childrenOf(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, "utf8").catch(() => "");
  return text.split(/\s+/).filter(Boolean).map(Number);
}

describe.skipIf(missing)("the manager's sandbox cgroups", () => {
  it("puts each sandbox, launcher first, in a cgroup of its own, and deleting it ends even a process that left its tree", async () => {
    const daemon = await fx.start();
    const a = await started(daemon, "cg-a");
    const b = await started(daemon, "cg-b");

    const dirA = await cgroupDirOf(await panePid(daemon, a.session));
    const dirB = await cgroupDirOf(await panePid(daemon, b.session));
    expect(dirA).toMatch(new RegExp(`/claude-sandbox-manager\\.[0-9a-f]{12}/sandbox-${a.id}$`));
    expect(dirB).toMatch(new RegExp(`/sandbox-${b.id}$`));
    expect(dirA).not.toBe(dirB);
    if (dirA === null || dirB === null) throw new Error("no cgroup");
    // The launcher itself, started by the wrapper after the move, is in it too (so is all it starts).
    const [launcher] = await childrenOf(await panePid(daemon, a.session));
    expect(launcher).toBeGreaterThan(0);
    expect(await cgroupDirOf(launcher)).toBe(dirA);
    // Nothing else is: only the sandbox's own processes.
    const members = (await readFile(join(dirA, "cgroup.procs"), "utf8"))
      .split("\n")
      .filter(Boolean)
      .map(Number);
    for (const pid of members) {
      const tree = [
        await panePid(daemon, a.session),
        ...(await childrenOf(await panePid(daemon, a.session))),
      ];
      expect(tree).toContain(pid);
    }

    // A process of the sandbox that left its tree (daemonized, environment cleared): only the cgroup knows it.
    const stray = spawn("sleep", ["300"], { detached: true, stdio: "ignore", env: {} });
    const strayPid = stray.pid ?? 0;
    strays.push(strayPid);
    stray.unref();
    await writeFile(join(dirA, "cgroup.procs"), `${strayPid}\n`);
    expect(await cgroupDirOf(strayPid)).toBe(dirA);

    await daemon.client.deleteSandbox({ id: a.id });
    // Killed by then (a zombie of ours at most, reaped at once: this test is its parent).
    await waitUntil("the stray process to be gone", () => !pidAlive(strayPid), 2000);
    expect(existsSync(dirA)).toBe(false);
    expect(existsSync(dirB)).toBe(true);

    await daemon.client.deleteSandbox({ id: b.id });
    expect(existsSync(dirB)).toBe(false);
  });

  it("removes, at its next start, the cgroup of a sandbox that is not running any more", async () => {
    const daemon = await fx.start();
    const a = await started(daemon, "cg-restart");
    const dir = await cgroupDirOf(await panePid(daemon, a.session));
    if (dir === null) throw new Error("no cgroup");
    // Checked first: the orphan goes beside it, which must be among the manager's sandbox cgroups.
    expect(dir).toMatch(new RegExp(`/claude-sandbox-manager\\.[0-9a-f]{12}/sandbox-${a.id}$`));
    // A create cut short by a crash leaves a cgroup no record names.
    const orphan = join(dirname(dir), "sandbox-00000000-0000-4000-8000-000000000000");
    await mkdir(orphan);
    daemon.child.kill("SIGKILL");
    await daemon.exited();

    const again = await fx.start();
    expect(existsSync(orphan)).toBe(false);
    // The adopted, still running sandbox keeps its cgroup.
    expect(existsSync(dir)).toBe(true);
    await again.client.deleteSandbox({ id: a.id });
    expect(existsSync(dir)).toBe(false);
  });
});
