// SIGTERM with open streams: both end with their documented final message or code, the daemon exits 0, the
// sandbox keeps running and the next start adopts it; a tail resumes exactly where it stopped.
import { stat } from "node:fs/promises";
import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import {
  Backend,
  LogEndReason,
  SandboxStatus,
  type TailLogsResponse,
  type WatchSandboxesResponse,
} from "../../client/index.js";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import { sessionExists, typeIntoPane } from "../helpers/start-daemon.js";
import { collect } from "../helpers/stream-collector.js";
import { pidAlive } from "../helpers/wait.js";

const fx = useDaemonFixture();

function tailText(items: TailLogsResponse[]): string {
  return items
    .map((m) => (m.event.case === "chunk" ? Buffer.from(m.event.value.data).toString() : ""))
    .join("");
}

describe.each(["SIGTERM", "SIGINT"] as const)("%s", (signal) => {
  it("ends TailLogs with LogEnd SHUTDOWN and Watch with Unavailable, exits 0, leaves the sandbox to the next start", async () => {
    const stateDir = await fx.stateDir();
    const first = await fx.start({ transport: "unix" });
    const { sandbox } = await first.client.createSandbox({
      name: "keeps-running",
      backend: Backend.VM,
      projectDir: fx.projectDir,
    });
    if (sandbox === undefined) throw new Error("no sandbox in the response");
    const session = sandbox.tmuxSession ?? "";

    const tail = collect<TailLogsResponse>(
      first.client.tailLogs({ id: sandbox.id }, { signal: fx.abortLater() }),
    );
    await tail.waitFor("the launcher's first lines", () =>
      tailText(tail.items).includes("fixture-launcher DISPLAY="),
    );
    const watch = collect<WatchSandboxesResponse>(
      first.client.watchSandboxes({}, { signal: fx.abortLater() }),
    );
    await watch.waitFor("the snapshot", (m) => m.event.case === "snapshot");

    const sentAt = Date.now();
    first.child.kill(signal);
    const exit = await first.exited();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - sentAt).toBeLessThan(5000);

    await tail.done;
    const last = tail.items.at(-1)?.event;
    expect(last?.case).toBe("end");
    if (last?.case !== "end") return;
    expect(last.value.reason).toBe(LogEndReason.SHUTDOWN);
    // The end carries the offset the stream reached: right after the last chunk it sent.
    const lastChunk = tail.items.filter((m) => m.event.case === "chunk").at(-1)?.event;
    expect(lastChunk?.case === "chunk" && lastChunk.value.nextOffset).toBe(last.value.offset);

    await expect(watch.done).rejects.toMatchObject({
      code: Code.Unavailable,
      rawMessage: "manager shutting down",
    });
    expect(first.stderr()).toContain(`${signal} received`);
    await expect(stat(first.socketPath ?? "")).rejects.toMatchObject({ code: "ENOENT" });

    // The sandbox outlived the manager.
    expect(await sessionExists(stateDir, session)).toBe(true);
    expect(pidAlive(sandbox.pidXvfb ?? 0)).toBe(true);
    await typeIntoPane(stateDir, session, "written between managers");

    const second = await fx.start({ transport: "unix" });
    expect(second.stderr()).toContain("1 running (adopted), 0 dead, 0 stopped");
    expect((await second.client.getSandbox({ id: sandbox.id })).sandbox).toMatchObject({
      status: SandboxStatus.RUNNING,
      pidXvfb: sandbox.pidXvfb,
    });
    // Resuming from the LogEnd's offset gives exactly what was written since: no gap, no repeat.
    const resumed = collect<TailLogsResponse>(
      second.client.tailLogs({ id: sandbox.id, fromOffset: last.value.offset }, { signal: fx.abortLater() }),
    );
    await resumed.waitFor("the line written between managers", () =>
      tailText(resumed.items).includes("fixture-got: written between managers"),
    );
    const firstResumed = resumed.items.find((m) => m.event.case === "chunk")?.event;
    expect(firstResumed?.case === "chunk" && firstResumed.value.offset).toBe(last.value.offset);
    expect(tailText(resumed.items)).not.toContain("fixture-launcher");
  });
});
