// When StopSandbox or DeleteSandbox answers, nothing of the sandbox may remain: its launcher tree, its tmux
// session, its Xvfb with the display's socket and lock file, and its files; not even a zombie that still shows
// in ps. Sandboxes adopted after a kill -9 of the manager included. The scenario runs LOOP times (default a few;
// LOOP=50 by hand), with the manager as root (sandbox cgroups) and as an unprivileged user (no cgroups).
import { chmod, chown } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Backend, type Sandbox, type SandboxClient } from "../../client/index.js";
import { REPO_ROOT } from "../helpers/build.js";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import { requires } from "../helpers/requires.js";
import { leftovers, sandboxProcesses, stillThere, tmuxServerOf } from "../helpers/sandbox-leftovers.js";
import { ensureTestUser } from "../helpers/sandbox-user.js";
import { FIXTURE_BIN, stopDaemon, waitUntil } from "../helpers/start-daemon.js";

const fx = useDaemonFixture();
const LOOP = Number(process.env.LOOP ?? 4);
const TICKER_BIN = join(REPO_ROOT, "test/fixtures/bin-ticker");
// Display numbers of their own, so X sockets of other daemons on the machine are never mistaken for ours.
const env = {
  PATH: `${TICKER_BIN}:${FIXTURE_BIN}:${process.env.PATH ?? "/usr/bin:/bin"}`,
  MANAGER_DISPLAY_BASE: "4200",
};

// The unprivileged variant is skipped, saying why, where the tests do not run as root (they make the user).
const MANAGERS: { as: string; unprivileged: boolean; missing: string | false }[] = [
  { as: "root (sandbox cgroups)", unprivileged: false, missing: false },
  { as: "an unprivileged user (no cgroups)", unprivileged: true, missing: requires("root") },
];

/** Starts a daemon on the test's state directory, as the test user when `unprivileged`. */
async function startManager(unprivileged: boolean) {
  if (!unprivileged) return fx.start({ env });
  const user = ensureTestUser();
  const dir = await fx.stateDir();
  await chown(dir, user.uid, user.gid);
  await chmod(fx.projectDir, 0o777);
  return fx.start({ env: { ...env, HOME: dir }, runAs: user });
}

async function create(client: SandboxClient, name: string): Promise<Sandbox> {
  const { sandbox } = await client.createSandbox({
    name,
    backend: Backend.BUBBLEWRAP,
    projectDir: fx.projectDir,
  });
  if (sandbox === undefined) throw new Error("no sandbox in the response");
  return sandbox;
}

async function ticking(client: SandboxClient, sandbox: Sandbox): Promise<void> {
  await waitUntil(`${sandbox.name} to tick`, async () =>
    Buffer.from((await client.getLogs({ id: sandbox.id })).data)
      .toString()
      .includes("fixture-tick 2"),
  );
}

const trace = (s: Sandbox) => ({
  id: s.id,
  displayNum: s.displayNum ?? -1,
  tmuxSession: s.tmuxSession ?? "",
});

describe.each(MANAGERS)("teardown with the manager running as $as", ({ unprivileged, missing }) => {
  for (let run = 1; run <= LOOP; run++) {
    it.skipIf(missing)(
      `one sandbox, then 20 at once, kill -9, restart, delete all: nothing left when the deletes answer (run ${run}/${LOOP})`,
      async () => {
        const first = await startManager(unprivileged);
        const sandboxes = [await create(first.client, "first")];
        await ticking(first.client, sandboxes[0] as Sandbox);
        sandboxes.push(
          ...(await Promise.all(Array.from({ length: 20 }, (_, i) => create(first.client, `parallel-${i}`)))),
        );
        await stopDaemon(first, "SIGKILL");

        const second = await startManager(unprivileged);
        const dir = await fx.stateDir();
        const manager = [second.child.pid ?? 0];
        const traces = sandboxes.map(trace);
        const before = await sandboxProcesses(traces, manager);
        const server = await tmuxServerOf(dir);
        // Each sandbox's wrapper, launcher and Xvfb at least.
        expect(before.length).toBeGreaterThanOrEqual(3 * sandboxes.length);
        await Promise.all(sandboxes.map((s) => second.client.deleteSandbox({ id: s.id })));
        expect(await leftovers(dir, traces, before, manager)).toEqual([]);
        expect((await second.client.listSandboxes({})).sandboxes).toEqual([]);
        // The tmux server is the manager's: it outlives its last session while the manager runs, and goes with
        // the manager when that one stops with no sandbox left.
        expect(server).not.toBeNull();
        expect(await stillThere(server === null ? [] : [server])).toHaveLength(1);
        const exit = await stopDaemon(second, "SIGTERM");
        expect(
          await stillThere(server === null ? [] : [server]),
          `the manager exited with ${JSON.stringify(exit)}, saying:\n${second.stderr().split("\n").slice(-12).join("\n")}`,
        ).toEqual([]);
      },
      90_000,
    );
  }
});

describe("StopSandbox", () => {
  it("of an adopted sandbox answers once nothing of it is left, and the record says stopped", async () => {
    const first = await fx.start({ env });
    const sandbox = await create(first.client, "adopted");
    await ticking(first.client, sandbox);
    await stopDaemon(first, "SIGKILL");
    const second = await fx.start({ env });
    const manager = [second.child.pid ?? 0];
    const before = await sandboxProcesses([trace(sandbox)], manager);
    const stopped = (await second.client.stopSandbox({ id: sandbox.id })).sandbox;
    // The record stays (with its log); everything else is gone.
    const left = await leftovers(await fx.stateDir(), [trace(sandbox)], before, manager);
    expect(left.filter((line) => !line.startsWith("logs/"))).toEqual([]);
    expect(stopped?.statusReason).toBe("stopped on request");
  });
});

describe("the manager's tmux server", () => {
  it("stays the same process across deleting the last sandbox and the next create, and goes with the manager", async () => {
    const daemon = await fx.start({ env });
    const dir = await fx.stateDir();
    const first = await create(daemon.client, "first");
    await ticking(daemon.client, first);
    const server = await tmuxServerOf(dir);
    expect(server).not.toBeNull();
    const manager = [daemon.child.pid ?? 0];
    const before = await sandboxProcesses([trace(first)], manager);
    await daemon.client.deleteSandbox({ id: first.id });
    expect(await leftovers(dir, [trace(first)], before, manager)).toEqual([]);
    // Deleting the last sandbox does not end the server (a daemon of init's, reaped only when init gets to it).
    const next = await create(daemon.client, "next");
    await ticking(daemon.client, next);
    expect(await tmuxServerOf(dir)).toEqual(server);
    await daemon.client.deleteSandbox({ id: next.id });
    await stopDaemon(daemon, "SIGTERM");
    expect(await stillThere(server === null ? [] : [server])).toEqual([]);
  });

  it("carries nothing of the sandbox whose create started it: once that one is deleted, no process names it", async () => {
    const daemon = await fx.start({ env });
    const first = await create(daemon.client, "first");
    const second = await create(daemon.client, "second");
    await ticking(daemon.client, first);
    const manager = [daemon.child.pid ?? 0];
    const before = await sandboxProcesses([trace(first)], manager);
    await daemon.client.deleteSandbox({ id: first.id });
    expect(await leftovers(await fx.stateDir(), [trace(first)], before, manager)).toEqual([]);
    await ticking(daemon.client, second);
  });
});
