// The manager dies hard (kill -9) with sandboxes running, one of them ends while it is down, and a new manager
// starts on the same state directory: nothing may be lost or orphaned.
import { describe, expect, it } from "vitest";
import { Backend, type SandboxClient, SandboxStatus, type TailLogsResponse } from "../../client/index.js";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import { paneDead, sessionExists, stopDaemon, typeIntoPane } from "../helpers/start-daemon.js";
import { collect } from "../helpers/stream-collector.js";
import { pidAlive, waitUntil } from "../helpers/wait.js";

const fx = useDaemonFixture();

async function createRunning(client: SandboxClient, name: string) {
  const { sandbox } = await client.createSandbox({
    name,
    backend: Backend.BUBBLEWRAP,
    projectDir: fx.projectDir,
  });
  if (sandbox === undefined) throw new Error("no sandbox in the response");
  await waitUntil(`${name}'s launcher output`, async () =>
    Buffer.from((await client.getLogs({ id: sandbox.id })).data)
      .toString()
      .includes("fixture-launcher DISPLAY="),
  );
  return sandbox;
}

function tailText(items: TailLogsResponse[]): string {
  return items
    .map((m) => (m.event.case === "chunk" ? Buffer.from(m.event.value.data).toString() : ""))
    .join("");
}

describe("restart after kill -9", () => {
  it("adopts live sandboxes, marks the one that ended while down as dead and cleans its Xvfb, loses no record", async () => {
    const first = await fx.start();
    const survivor = await createRunning(first.client, "survivor");
    const casualty = await createRunning(first.client, "casualty");
    const parked = await createRunning(first.client, "parked");
    await first.client.stopSandbox({ id: parked.id });

    await stopDaemon(first, "SIGKILL");
    const dir = first.stateDir;
    // While no manager runs: the survivor keeps printing into its log, the casualty's launcher exits.
    await typeIntoPane(dir, survivor.tmuxSession ?? "", "while the manager was down");
    await typeIntoPane(dir, casualty.tmuxSession ?? "", "exit 3");
    await waitUntil("the casualty's launcher to exit", () => paneDead(dir, casualty.tmuxSession ?? ""));
    expect(pidAlive(casualty.pidXvfb ?? 0)).toBe(true); // nobody has cleaned it up yet

    const second = await fx.start();
    expect(second.stderr()).toContain("1 running (adopted), 1 dead, 1 stopped");
    const { sandboxes } = await second.client.listSandboxes({});
    expect(sandboxes.map((s) => [s.name, SandboxStatus[s.status]])).toEqual([
      ["parked", "STOPPED"],
      ["casualty", "DEAD"],
      ["survivor", "RUNNING"],
    ]);

    const adopted = (await second.client.getSandbox({ id: survivor.id })).sandbox;
    expect(adopted).toMatchObject({ pidXvfb: survivor.pidXvfb, displayNum: survivor.displayNum });
    expect(await sessionExists(dir, survivor.tmuxSession ?? "")).toBe(true);
    expect(pidAlive(survivor.pidXvfb ?? 0)).toBe(true);

    // The exit status reaches the manager through a tmux hook that may land a moment after the pane died.
    await waitUntil(
      "the launcher's exit status on the dead record",
      async () => (await second.client.getSandbox({ id: casualty.id })).sandbox?.exitCode === 3,
      5000,
    );
    const dead = (await second.client.getSandbox({ id: casualty.id })).sandbox;
    expect(dead?.statusReason).not.toBe("");
    expect(dead?.stoppedAt).toBeDefined();
    await waitUntil("the dead sandbox's Xvfb to be cleaned up", () => !pidAlive(casualty.pidXvfb ?? 0));
    await waitUntil(
      "the dead sandbox's session to be removed",
      async () => !(await sessionExists(dir, casualty.tmuxSession ?? "")),
    );

    // Output written while the manager was down is in the log, and tailing continues live.
    const tail = collect<TailLogsResponse>(
      second.client.tailLogs({ id: survivor.id }, { signal: fx.abortLater() }),
    );
    await tail.waitFor("output from the downtime", () =>
      tailText(tail.items).includes("fixture-got: while the manager was down"),
    );
    await typeIntoPane(dir, survivor.tmuxSession ?? "", "after the restart");
    await tail.waitFor("live output after the restart", () =>
      tailText(tail.items).includes("fixture-got: after the restart"),
    );

    const stopped = (await second.client.stopSandbox({ id: survivor.id })).sandbox;
    expect(stopped?.status).toBe(SandboxStatus.STOPPED);
    expect(await sessionExists(dir, survivor.tmuxSession ?? "")).toBe(false);
    await waitUntil("the adopted Xvfb to exit", () => !pidAlive(survivor.pidXvfb ?? 0));
  });
});
