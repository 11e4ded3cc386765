// One sandbox attacks the host through the real manager daemon and the real bubblewrap launcher: it fills /tmp,
// forks a bomb, then hogs memory until the OOM killer ends it. Throughout, ListSandboxes answers within 100 ms
// (asked every ~50 ms) and a second sandbox keeps printing; the attacker is held at its limits (ENOSPC at its
// tmpfs size, forks refused at its process limit, as its reported use shows) and, OOM-killed, is marked dead
// with that reason. The attacks are bounded themselves (300 processes, 256 MiB, 32 MiB), so a limit that fails
// costs the host nothing.
import { readdirSync } from "node:fs";
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { getPriority, setPriority, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Backend, type Sandbox, type SandboxClient, SandboxStatus } from "../../client/index.js";
import { REPO_ROOT } from "../helpers/build.js";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import { fillScript, forkBomb, MEMORY_HOG, whyNoCgroupLimits } from "../helpers/limits-attacks.js";
import { requires } from "../helpers/requires.js";
import { ensureTestUser } from "../helpers/sandbox-user.js";
import { waitUntil } from "../helpers/wait.js";

const LAUNCHER = join(REPO_ROOT, "launcher/bubblewrap/claude-sandbox");
const MIB = 2 ** 20;
/** The test's own polling stays light, so the latencies measured are the manager's, not this process's. */
const POLL_MS = 100;
const fixture = useDaemonFixture();
const noCgroup = await whyNoCgroupLimits();

async function logsOf(client: SandboxClient, id: string): Promise<string> {
  return Buffer.from((await client.getLogs({ id, limit: 4 << 20 })).data).toString();
}

/** Sets the priority of every thread of process `pid` (setpriority acts on one thread). */
function prioritize(pid: number, priority: number): void {
  for (const tid of readdirSync(`/proc/${pid}/task`)) setPriority(Number(tid), priority);
}

/** Asks ListSandboxes every ~50 ms until stopped; returns each answer's time in ms. */
function watchLatency(client: SandboxClient): { stop: () => Promise<number[]> } {
  const times: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      await client.listSandboxes({});
      times.push(performance.now() - t0);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return times;
    },
  };
}

/** A sandbox without network whose agent is `sh -c script`, with `limits` if given. */
async function createShell(
  client: SandboxClient,
  name: string,
  script: string,
  limits?: { memoryBytes: bigint; maxProcesses: number; tmpfsBytes: bigint; cpuWeight: number },
): Promise<Sandbox> {
  const { sandbox } = await client.createSandbox({
    name,
    backend: Backend.BUBBLEWRAP,
    projectDir: fixture.projectDir,
    network: false,
    shell: true,
    agentArgs: ["-c", script],
    limits,
  });
  if (sandbox === undefined) throw new Error("no sandbox in the response");
  return sandbox;
}

describe.skipIf(noCgroup !== null)(
  `limits through the manager${noCgroup === null ? "" : ` — skipped: ${noCgroup}`}`,
  () => {
    it("a /tmp filler, a fork bomb and a memory hog in one sandbox leave the manager and another sandbox working", async () => {
      const daemon = await fixture.start({
        env: {
          MANAGER_LAUNCHER_BUBBLEWRAP: LAUNCHER,
          XDG_STATE_HOME: await mkdtemp(join(tmpdir(), "csm-limits-state-")),
        },
      });
      const { client } = daemon;
      const witness = await createShell(
        client,
        "witness",
        "i=0; while :; do i=$((i+1)); echo tick-$i; sleep 0.1; done",
      );
      await waitUntil("the witness to print", async () =>
        (await logsOf(client, witness.id)).includes("tick-3"),
      );
      // This host runs other work too (its load can hold a process off the CPU for 100 ms): the manager and this
      // probe get a priority above the sandboxes', as a host would give its manager, so that what is measured
      // is the attack's effect, not the neighbours'. After the first create: the sandboxes run under the tmux
      // server, which the manager started then at the default priority.
      const daemonPid = daemon.child.pid;
      if (daemonPid === undefined) throw new Error("the daemon has no pid");
      const ownPriority = getPriority();
      prioritize(daemonPid, -10);
      prioritize(process.pid, -10);
      fixture.abortLater().addEventListener("abort", () => prioritize(process.pid, ownPriority));

      // The attacker waits for the go (a file in the project) so the test sees it start; then: fill, bomb
      // (holding its children 2 s for a look at the reported use), hog, which ends the shell with its status.
      const go = join(fixture.projectDir, "go");
      const script = [
        `while [ ! -e ${go} ]; do sleep 0.05; done`,
        fillScript("/tmp/fill", 32 * MIB),
        "rm -f /tmp/fill",
        `python3 -c '${forkBomb(2)}'`,
        "echo bomb-over",
        `exec python3 -c '${MEMORY_HOG}'`,
      ].join("\n");
      // A low CPU weight, as a host would give an untrusted agent: its bursts (300 forks) yield to the manager.
      const attacker = await createShell(client, "attacker", script, {
        memoryBytes: BigInt(96 * MIB),
        maxProcesses: 64,
        tmpfsBytes: BigInt(16 * MIB),
        cpuWeight: 10,
      });
      const { id } = attacker;
      expect(attacker.limits).toMatchObject({
        memoryBytes: BigInt(96 * MIB),
        maxProcesses: 64,
        swapBytes: 0n,
      });
      expect(attacker.limitsNote).toBe("");
      expect(attacker.limitsApplied).toBe(true);
      expect(attacker.usage).toMatchObject({ memoryMaxBytes: BigInt(96 * MIB), pidsMax: 64 });
      // From here on the attack runs (creating a sandbox is the manager's own work, and spawns block it briefly).
      const latency = watchLatency(client);
      fixture.abortLater().addEventListener("abort", () => void latency.stop());
      const ticksBefore = (await logsOf(client, witness.id)).match(/tick-\d+/g)?.length ?? 0;
      await writeFile(go, "");

      // The filler stops at the tmpfs size.
      const filled = await waitUntil(
        "the filler's result",
        async () => /filled (\d+) ([^\r\n]*)/.exec(await logsOf(client, id)),
        10_000,
        POLL_MS,
      );
      expect(Number(filled[1])).toBeLessThanOrEqual(16 * MIB);
      expect(filled[2]).toMatch(/No space left on device/);

      // The bomb stops at the process limit, and the use the manager reports says so.
      const bomb = await waitUntil(
        "the fork bomb's result",
        async () => /forked (\d+) failed (\d+)/.exec(await logsOf(client, id)),
        10_000,
        POLL_MS,
      );
      expect(Number(bomb[1])).toBeLessThan(64);
      expect(Number(bomb[2])).toBeGreaterThan(200);
      const usage = (await client.getSandbox({ id })).sandbox?.usage;
      expect(usage?.pidsMax).toBe(64);
      expect(usage?.pidsCurrent).toBeGreaterThan(Number(bomb[1]));
      expect(usage?.pidsCurrent).toBeLessThanOrEqual(64);

      // The hog is OOM-killed, and with it the sandbox, marked dead with that reason.
      const dead = await waitUntil(
        "the attacker to be marked dead",
        async () => {
          const s = (await client.getSandbox({ id })).sandbox;
          return s?.status === SandboxStatus.DEAD ? s : undefined;
        },
        20_000,
        POLL_MS,
      );
      expect(dead.statusReason, dead.statusReason).toMatch(
        /^killed by the OOM killer: it reached its memory limit of 96 MiB, and the kernel killed a process in it \((launcher exited with status 137|the launcher was killed by SIGKILL)\)$/,
      );
      expect(await logsOf(client, id)).not.toContain("hog survived");

      const times = await latency.stop();
      // The witness printed on all along (about 10 lines a second) and still runs.
      const ticksAfter = (await logsOf(client, witness.id)).match(/tick-\d+/g)?.length ?? 0;
      expect(ticksAfter - ticksBefore).toBeGreaterThan(10);
      expect((await client.getSandbox({ id: witness.id })).sandbox?.status).toBe(SandboxStatus.RUNNING);
      expect(times.length).toBeGreaterThan(10);
      expect(
        Math.max(...times),
        `ListSandboxes times: ${times.map((t) => t.toFixed(1)).join(" ")}`,
      ).toBeLessThan(100);
    }, 60_000);
  },
);

describe.skipIf(requires("root"))("limits where the manager may make no cgroup", () => {
  it("the sandbox runs, and its record says which limits are not held and why", async () => {
    const user = ensureTestUser();
    const work = await mkdtemp(join(tmpdir(), "csm-limits-user-"));
    await chmod(work, 0o755);
    await chown(work, user.uid, user.gid);
    const project = join(work, "project");
    await mkdir(project);
    await chown(project, user.uid, user.gid);
    try {
      const daemon = await fixture.start({
        stateDir: join(work, "state"),
        cwd: work,
        env: { HOME: work },
        runAs: user,
      });
      const { sandbox } = await daemon.client.createSandbox({
        name: "unlimited",
        backend: Backend.BUBBLEWRAP,
        projectDir: project,
        limits: { maxProcesses: 100 },
      });
      expect(sandbox?.status).toBe(SandboxStatus.RUNNING);
      expect(sandbox?.limits).toMatchObject({ maxProcesses: 100, cpuWeight: 100 });
      expect(sandbox?.limitsApplied).toBe(false);
      expect(sandbox?.limitsNote).toMatch(
        /^memory, processes, cpu weight not limited: the manager may not make cgroups below its own/,
      );
      expect(sandbox?.usage).toBeUndefined();
      await daemon.client.deleteSandbox({ id: sandbox?.id ?? "" });
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
