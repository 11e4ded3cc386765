// The file system of the state directory fills up (a 2 MiB tmpfs mounted as the state directory, then filled)
// while the manager runs. A change that cannot be saved must fail with an error that says so, leave the last
// good state.json as it was and nothing half-done running; reads keep working; and once space is freed, writes
// work again.
import { execFile } from "node:child_process";
import { open, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { Code } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { Backend, SandboxStatus, type WatchSandboxesResponse } from "../../client/index.js";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import { expectNothingOrphaned, readStateFile } from "../helpers/orphans.js";
import { rpcError } from "../helpers/rpc-error.js";
import { createWorking, expectWorking } from "../helpers/sandbox-working.js";
import { type Daemon, processAlive, processesReferring, xvfbProcesses } from "../helpers/start-daemon.js";
import { collect } from "../helpers/stream-collector.js";

const fx = useDaemonFixture();
const DISPLAY_BASE = 720;
const DISPLAYS = Array.from({ length: 12 }, (_, i) => DISPLAY_BASE + i);
const env = { MANAGER_DISPLAY_BASE: String(DISPLAY_BASE) };
const run = promisify(execFile);
const NO_SPACE = /no space left .*state file .*state\.json/i;

let mounted: string | undefined;
let filled = 0;
let daemon: Daemon | undefined;
afterEach(async () => {
  // Runs before the fixture's cleanup: the manager and its tmux server must let go of the mount first.
  daemon?.child.kill("SIGKILL");
  await daemon?.exited();
  daemon = undefined;
  if (mounted === undefined) return;
  await run("tmux", ["-S", join(mounted, "tmux.sock"), "kill-server"]).catch(() => {});
  for (const pid of await processesReferring(mounted)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
  await run("umount", ["--lazy", mounted]);
  mounted = undefined;
});

/** A state directory on a tmpfs of its own, so that it can be filled without touching the host's disk. */
async function smallStateDir(): Promise<string> {
  const dir = await fx.stateDir();
  await run("mount", ["-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", dir]);
  mounted = dir;
  return dir;
}

/** Fills the file system of `dir` up to the last byte with one more file, whose path it returns. */
async function fill(dir: string): Promise<string> {
  const file = join(dir, `filler-${filled++}`);
  const handle = await open(file, "w");
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (let size = chunk.length; size > 0; size = Math.floor(size / 2)) {
      for (;;) {
        try {
          await handle.write(chunk, 0, size);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
          break;
        }
      }
    }
  } finally {
    await handle.close();
  }
  return file;
}

/** The ids a WatchSandboxes client holds after these messages: the snapshot, plus upserts, minus deletes. */
function watchedIds(messages: WatchSandboxesResponse[]): string[] {
  const ids = new Set<string>();
  for (const { event } of messages) {
    if (event.case === "snapshot") for (const s of event.value.sandboxes) ids.add(s.id);
    if (event.case === "upserted") ids.add(event.value.id);
    if (event.case === "deleted") ids.delete(event.value.id);
  }
  return [...ids].sort();
}

describe("the state directory's file system is full", () => {
  it("refuses a create with resource_exhausted naming the state file, keeps state.json and serving reads, and recovers", async () => {
    const dir = await smallStateDir();
    daemon = await fx.start({ env });
    const kept = await createWorking(daemon.client, "kept", fx.projectDir);
    const before = await readFile(join(dir, "state.json"), "utf8");
    const xvfbsBefore = (await xvfbProcesses(dir)).length;
    const watch = collect<WatchSandboxesResponse>(
      daemon.client.watchSandboxes({}, { signal: fx.abortLater() }),
    );
    await watch.waitFor("the watch's snapshot", (m) => m.event.case === "snapshot");
    const filler = await fill(dir);

    const refused = await rpcError(
      daemon.client.createSandbox({
        name: "no-room",
        backend: Backend.BUBBLEWRAP,
        projectDir: fx.projectDir,
      }),
    );
    expect(refused.code).toBe(Code.ResourceExhausted);
    expect(refused.rawMessage).toMatch(NO_SPACE);
    // Nothing half-done: no record, no second Xvfb, no session, and the last good state.json as it was.
    expect(await readFile(join(dir, "state.json"), "utf8")).toBe(before);
    expect((await xvfbProcesses(dir)).length).toBe(xvfbsBefore);

    // Reads go on.
    const { sandboxes } = await daemon.client.listSandboxes({});
    expect(sandboxes.map((s) => s.name)).toEqual(["kept"]);
    expect((await daemon.client.getSandbox({ id: kept.id })).sandbox?.status).toBe(SandboxStatus.RUNNING);
    expect(Buffer.from((await daemon.client.getLogs({ id: kept.id })).data).toString()).toContain(
      "fixture-launcher DISPLAY=",
    );

    await rm(filler);
    const after = await createWorking(daemon.client, "after", fx.projectDir);
    await expectWorking(daemon.client, dir, kept.id);
    await expectWorking(daemon.client, dir, after.id);
    // A watcher never heard of the create that was refused: its view is what List says.
    await watch.waitFor(
      "the next create's event",
      (m) => m.event.case === "upserted" && m.event.value.id === after.id,
    );
    const listed = (await daemon.client.listSandboxes({})).sandboxes.map((s) => s.id).sort();
    expect(watchedIds(watch.items)).toEqual(listed);
    await expectNothingOrphaned(dir, { daemon, present: [kept.id, after.id], displays: DISPLAYS });
  });

  it("refuses a delete whose change cannot be saved the same way; a stop is saved or refused, never half", async () => {
    const dir = await smallStateDir();
    daemon = await fx.start({ env });
    const first = await createWorking(daemon.client, "first", fx.projectDir);
    const second = await createWorking(daemon.client, "second", fx.projectDir);
    await daemon.client.stopSandbox({ id: second.id });
    const before = await readFile(join(dir, "state.json"), "utf8");
    const fillers = [await fill(dir)];

    const refused = await rpcError(daemon.client.deleteSandbox({ id: second.id }));
    expect(refused.code).toBe(Code.ResourceExhausted);
    expect(refused.rawMessage).toMatch(NO_SPACE);
    expect(await readFile(join(dir, "state.json"), "utf8")).toBe(before);
    expect((await daemon.client.getSandbox({ id: second.id })).sandbox?.status).toBe(SandboxStatus.STOPPED);

    // A stop ends the sandbox first, which frees its files' room: it is then saved, or refused as above.
    const stop = await daemon.client.stopSandbox({ id: first.id }).then(
      () => null,
      (e: unknown) => e,
    );
    const stored = await readStateFile(dir);
    if (stop === null) {
      expect(stored.get(first.id)?.status).toBe("stopped");
    } else {
      expect(stop).toMatchObject({
        code: Code.ResourceExhausted,
        rawMessage: expect.stringMatching(NO_SPACE),
      });
      expect(await readFile(join(dir, "state.json"), "utf8")).toBe(before);
    }
    expect(processAlive(first.pidXvfb ?? 0)).toBe(false);
    expect((await daemon.client.listSandboxes({})).sandboxes).toHaveLength(2);

    fillers.push(await fill(dir));
    for (const filler of fillers) await rm(filler);
    await daemon.client.deleteSandbox({ id: second.id });
    await daemon.client.deleteSandbox({ id: first.id });
    await expectNothingOrphaned(dir, { daemon, absent: [first.id, second.id], displays: DISPLAYS });
  });
});
