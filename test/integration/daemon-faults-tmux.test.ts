// What sandboxes stand on dies under them: the manager's tmux server (kill -9), or one sandbox's Xvfb. The
// manager must notice on its own, mark exactly the sandboxes affected dead with a reason naming the cause,
// clean up what is left of them, and go on creating sandboxes.
import { rename } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { type Sandbox, type SandboxClient, SandboxStatus } from "../../client/index.js";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import { paneFormat, tmuxServerPid } from "../helpers/manager-tmux.js";
import { expectNothingOrphaned } from "../helpers/orphans.js";
import { createWorking, expectWorking } from "../helpers/sandbox-working.js";
import { processAlive, stopDaemon, waitUntil } from "../helpers/start-daemon.js";

const fx = useDaemonFixture();
const DISPLAY_BASE = 640;
const DISPLAYS = Array.from({ length: 12 }, (_, i) => DISPLAY_BASE + i);
const env = { MANAGER_DISPLAY_BASE: String(DISPLAY_BASE) };
/** The bound: a sandbox whose tmux server or Xvfb died is marked dead within 5 s. */
const NOTICE_MS = 5000;

async function waitDead(client: SandboxClient, ids: string[], timeoutMs: number): Promise<Sandbox[]> {
  const start = Date.now();
  await waitUntil(
    `${ids.length} sandboxes marked dead`,
    async () => {
      const { sandboxes } = await client.listSandboxes({});
      return ids.every((id) => sandboxes.find((s) => s.id === id)?.status === SandboxStatus.DEAD);
    },
    timeoutMs,
  );
  expect(Date.now() - start).toBeLessThan(timeoutMs);
  const { sandboxes } = await client.listSandboxes({});
  return ids.map((id) => sandboxes.find((s) => s.id === id) as Sandbox);
}

/**
 * kill -9 of the manager's tmux server, then: every one of `sandboxes` is marked dead within NOTICE_MS saying
 * so, and their Xvfbs exit.
 */
async function killTmuxServer(stateDir: string, client: SandboxClient, sandboxes: Sandbox[]): Promise<void> {
  process.kill((await tmuxServerPid(stateDir)) ?? 0, "SIGKILL");
  const dead = await waitDead(
    client,
    sandboxes.map((s) => s.id),
    NOTICE_MS,
  );
  for (const record of dead) expect(record.statusReason).toBe("the manager's tmux server exited");
  for (const s of sandboxes)
    await waitUntil("the dead sandbox's Xvfb to exit", () => !processAlive(s.pidXvfb ?? 0));
}

describe("the manager's tmux server is killed", () => {
  it("marks every sandbox dead within 5 s saying so, cleans up, and a new create works", async () => {
    const daemon = await fx.start({ env });
    const sandboxes: Sandbox[] = [];
    for (const name of ["one", "two", "three"])
      sandboxes.push(await createWorking(daemon.client, name, fx.projectDir));
    await killTmuxServer(daemon.stateDir, daemon.client, sandboxes);

    const fresh = await createWorking(daemon.client, "after", fx.projectDir);
    expect(fresh.status).toBe(SandboxStatus.RUNNING);
    const records = await expectNothingOrphaned(daemon.stateDir, {
      daemon,
      present: [...sandboxes.map((s) => s.id), fresh.id],
      displays: DISPLAYS,
    });
    expect([...records.values()].filter((r) => r.status === "running").map((r) => r.id)).toEqual([fresh.id]);

    await daemon.client.deleteSandbox({ id: fresh.id });
    for (const s of sandboxes) await daemon.client.deleteSandbox({ id: s.id });
    await expectNothingOrphaned(daemon.stateDir, {
      daemon,
      absent: [...sandboxes.map((s) => s.id), fresh.id],
      displays: DISPLAYS,
    });
  });

  it("also when the sandboxes were adopted from a manager that was killed", async () => {
    const first = await fx.start({ env });
    const sandboxes = [
      await createWorking(first.client, "a", fx.projectDir),
      await createWorking(first.client, "b", fx.projectDir),
    ];
    await stopDaemon(first, "SIGKILL");
    const second = await fx.start({ env });
    await killTmuxServer(second.stateDir, second.client, sandboxes);
    const fresh = await createWorking(second.client, "after", fx.projectDir);
    await expectNothingOrphaned(second.stateDir, {
      daemon: second,
      present: [...sandboxes.map((s) => s.id), fresh.id],
      displays: DISPLAYS,
    });
  });
});

describe("one sandbox's Xvfb is killed", () => {
  for (const adopted of [false, true]) {
    it(`marks only that one dead, with a reason naming Xvfb${adopted ? " (adopted sandbox)" : ""}`, async () => {
      let daemon = await fx.start({ env });
      const victim = await createWorking(daemon.client, "victim", fx.projectDir);
      const bystander = await createWorking(daemon.client, "bystander", fx.projectDir);
      if (adopted) {
        await stopDaemon(daemon, "SIGKILL");
        daemon = await fx.start({ env });
      }
      process.kill(victim.pidXvfb ?? 0, "SIGKILL");
      const [dead] = await waitDead(daemon.client, [victim.id], NOTICE_MS);
      expect(dead?.statusReason).toMatch(new RegExp(`^Xvfb \\(display :${victim.displayNum}\\) `));
      const other = (await daemon.client.getSandbox({ id: bystander.id })).sandbox;
      expect(other?.status).toBe(SandboxStatus.RUNNING);
      await expectNothingOrphaned(daemon.stateDir, {
        daemon,
        present: [victim.id, bystander.id],
        displays: DISPLAYS,
      });
    });
  }
});

describe("an exit hook that fails (no room in the state directory, say)", () => {
  it("never takes over another sandbox's pane: keys typed into that one still reach its launcher", async () => {
    const daemon = await fx.start({ env });
    const kept = await createWorking(daemon.client, "kept", fx.projectDir);
    const other = await createWorking(daemon.client, "other", fx.projectDir);
    // The hooks write into exits/: without it they fail, as they do on a full disk.
    const exits = join(daemon.stateDir, "exits");
    await rename(exits, `${exits}-away`);
    try {
      await daemon.client.stopSandbox({ id: other.id });
      // The session-closed hook runs once the session is gone; tmux would show its output in some other pane.
      const until = Date.now() + 1000;
      while (Date.now() < until) {
        expect(await paneFormat(daemon.stateDir, kept.tmuxSession ?? "", "#{pane_mode}")).toBe("");
        await sleep(50);
      }
    } finally {
      await rename(`${exits}-away`, exits);
    }
    await expectWorking(daemon.client, daemon.stateDir, kept.id);
    await expectNothingOrphaned(daemon.stateDir, {
      daemon,
      present: [kept.id, other.id],
      displays: DISPLAYS,
    });
  });
});
