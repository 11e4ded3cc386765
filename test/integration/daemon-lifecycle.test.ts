// The whole sandbox lifecycle through the generated client against the real daemon (real Xvfb, tmux and a
// fixture launcher), over TCP and over a Unix socket.
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import {
  Backend,
  LogEndReason,
  SandboxStatus,
  type TailLogsResponse,
  type WatchSandboxesResponse,
} from "../../client/index.js";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import { sessionExists, typeIntoPane, xvfbProcesses } from "../helpers/start-daemon.js";
import { collect } from "../helpers/stream-collector.js";
import { pidAlive, waitUntil } from "../helpers/wait.js";

const fx = useDaemonFixture();

describe.each(["tcp", "unix"] as const)("the daemon over %s", (transport) => {
  it("creates, lists, gets, logs, tails, watches, stops and deletes a sandbox", async () => {
    const daemon = await fx.start({ transport });
    const { client } = daemon;
    if (transport === "unix") {
      expect(((await stat(daemon.socketPath ?? "")).mode & 0o777).toString(8)).toBe("660");
    }

    const watch = collect<WatchSandboxesResponse>(client.watchSandboxes({}, { signal: fx.abortLater() }));
    await watch.waitFor("the snapshot", (m) => m.event.case === "snapshot");
    expect(watch.items[0]?.event).toMatchObject({ case: "snapshot", value: { sandboxes: [] } });

    const { sandbox } = await client.createSandbox({
      name: "lifecycle",
      backend: Backend.BUBBLEWRAP,
      projectDir: fx.projectDir,
      agentArgs: ["--model", "two words"],
    });
    if (sandbox === undefined) throw new Error("no sandbox in the response");
    const { id } = sandbox;
    expect(sandbox).toMatchObject({
      name: "lifecycle",
      backend: Backend.BUBBLEWRAP,
      projectDir: fx.projectDir,
      status: SandboxStatus.RUNNING,
      network: true,
      agentArgs: ["--model", "two words"],
      tmuxSocket: join(daemon.stateDir, "tmux.sock"),
    });
    expect(sandbox.displayNum).toBeGreaterThanOrEqual(50);
    expect(sandbox.createdAt).toBeDefined();
    const session = sandbox.tmuxSession ?? "";
    const xvfbPid = sandbox.pidXvfb ?? 0;
    expect(await sessionExists(daemon.stateDir, session)).toBe(true);
    expect(pidAlive(xvfbPid)).toBe(true);

    expect((await client.listSandboxes({})).sandboxes.map((s) => s.id)).toEqual([id]);
    expect((await client.getSandbox({ id })).sandbox?.status).toBe(SandboxStatus.RUNNING);
    await watch.waitFor("the create event", (m) => m.event.case === "upserted" && m.event.value.id === id);

    // The fixture prints its argv and display first: GetLogs shows it once the pane has written it.
    let logs = "";
    await waitUntil("the fixture's first lines in GetLogs", async () => {
      logs = Buffer.from((await client.getLogs({ id })).data).toString();
      return logs.includes("fixture-launcher DISPLAY=");
    });
    // The launcher reaches the project through the manager's descriptor of the directory it checked.
    expect(logs).toMatch(/ \[\/proc\/\d+\/fd\/\d+\] \[--\] \[--model\] \[two words\]/);
    expect(/fixture-launcher project: (\S+)\r?\n/.exec(logs)?.[1]).toBe(fx.projectDir);
    expect(logs).toContain(`DISPLAY=:${sandbox.displayNum}`);

    const tail = collect<TailLogsResponse>(client.tailLogs({ id }, { signal: fx.abortLater() }));
    await tail.waitFor("the backlog", () => tailText(tail.items).includes("fixture-launcher argv:"));
    await typeIntoPane(daemon.stateDir, session, "hello from the test");
    await tail.waitFor("the typed line", () =>
      tailText(tail.items).includes("fixture-got: hello from the test"),
    );
    expectContiguous(tail.items);

    const stopped = (await client.stopSandbox({ id })).sandbox;
    expect(stopped?.status).toBe(SandboxStatus.STOPPED);
    expect(stopped?.stoppedAt).toBeDefined();
    expect(await sessionExists(daemon.stateDir, session)).toBe(false);
    await waitUntil("Xvfb to exit", () => !pidAlive(xvfbPid));
    expect((await client.stopSandbox({ id })).sandbox?.status).toBe(SandboxStatus.STOPPED);
    await watch.waitFor(
      "the stop event",
      (m) => m.event.case === "upserted" && m.event.value.status === SandboxStatus.STOPPED,
    );

    await client.deleteSandbox({ id });
    await watch.waitFor("the delete event", (m) => m.event.case === "deleted" && m.event.value.id === id);
    const end = await tail.waitFor("the tail's end", (m) => m.event.case === "end");
    expect(end.event.case === "end" && end.event.value.reason).toBe(LogEndReason.DELETED);
    await tail.done;
    expect((await client.listSandboxes({})).sandboxes).toEqual([]);

    for (const call of [
      () => client.getSandbox({ id }),
      () => client.stopSandbox({ id }),
      () => client.deleteSandbox({ id }),
      () => client.getLogs({ id }),
      () => collect(client.tailLogs({ id }, { signal: fx.abortLater() })).done,
    ]) {
      const err = await call().then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      expect(err?.code, err?.message).toBe(Code.NotFound);
      expect(err?.rawMessage).toContain(id);
    }
    expect(daemon.stderr()).not.toMatch(/failed|error/i);
  });
});

describe("the daemon under parallel load", () => {
  it("gives 20 parallel CreateSandbox calls 20 distinct displays, and deleting them all leaves nothing behind", async () => {
    const daemon = await fx.start();
    const { client } = daemon;
    const created = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        client.createSandbox({
          name: `parallel-${i}`,
          backend: Backend.BUBBLEWRAP,
          projectDir: fx.projectDir,
        }),
      ),
    );
    const sandboxes = created.map((r) => r.sandbox);
    expect(sandboxes.every((s) => s?.status === SandboxStatus.RUNNING)).toBe(true);
    const displays = new Set(sandboxes.map((s) => s?.displayNum));
    expect(displays.size).toBe(20);
    expect((await xvfbProcesses(daemon.stateDir)).length).toBe(20);
    expect((await client.listSandboxes({})).sandboxes).toHaveLength(20);

    await Promise.all(sandboxes.map((s) => client.deleteSandbox({ id: s?.id ?? "" })));
    expect((await client.listSandboxes({})).sandboxes).toEqual([]);
    await waitUntil("every Xvfb to exit", async () => (await xvfbProcesses(daemon.stateDir)).length === 0);
    for (const display of displays) {
      // Other tests on this machine may take a freed display number at once, so the files may exist again;
      // then they belong to a live X server. A lock naming a dead process or a socket nobody listens on is a leak.
      const holder = await readFile(`/tmp/.X${display}-lock`, "utf8").catch(() => undefined);
      if (holder !== undefined)
        expect(pidAlive(Number(holder.trim())), `stale lock of :${display}`).toBe(true);
      const socket = `/tmp/.X11-unix/X${display}`;
      if (await stat(socket).catch(() => undefined)) {
        expect(await unixSocketListening(socket), `stale socket of :${display}`).toBe(true);
      }
    }
    expect(await readdir(join(daemon.stateDir, "logs"))).toEqual([]);
  });
});

async function unixSocketListening(path: string): Promise<boolean> {
  const table = await readFile("/proc/net/unix", "utf8");
  return table.split("\n").some((line) => line.endsWith(` ${path}`));
}

function tailText(items: TailLogsResponse[]): string {
  return items
    .map((m) => (m.event.case === "chunk" ? Buffer.from(m.event.value.data).toString() : ""))
    .join("");
}

/** Every chunk starts where the previous one ended: no gap, no duplicate. */
function expectContiguous(items: TailLogsResponse[]): void {
  let next: bigint | undefined;
  for (const m of items) {
    if (m.event.case !== "chunk") continue;
    if (next !== undefined) expect(m.event.value.offset).toBe(next);
    expect(m.event.value.nextOffset).toBe(m.event.value.offset + BigInt(m.event.value.data.length));
    next = m.event.value.nextOffset;
  }
}
