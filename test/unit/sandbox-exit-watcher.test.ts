import { mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createExitWatcher, exitHookCommands, type SessionExit } from "../../server/sandbox/exit-watcher.js";
import { holdsWithin } from "../helpers/wait.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "exits-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Writes an exit file the way the tmux hook does: temp name, then rename. */
function drop(name: string, content: string): void {
  writeFileSync(join(dir, `${name}.tmp`), content);
  renameSync(join(dir, `${name}.tmp`), join(dir, name));
}

async function next(events: SessionExit[], count: number): Promise<SessionExit[]> {
  await holdsWithin(() => events.length >= count, 2500, 10);
  return events;
}

describe("exit watcher", () => {
  it("reports files that were there before it started, then new ones, with status or signal", async () => {
    drop("sandbox-0000000a.died", "3 \n");
    const watcher = createExitWatcher(dir);
    const events: SessionExit[] = [];
    await watcher.start((e) => events.push(e));
    drop("sandbox-0000000b.died", " 9\n");
    drop("sandbox-0000000c.closed", "");
    drop("sandbox-0000000e.status", "137\n");
    drop("unrelated.died", "1 \n");
    // Files are read concurrently: their reports may come in any order.
    const bySession = (await next(events, 4)).slice().sort((x, y) => x.session.localeCompare(y.session));
    expect(bySession).toEqual([
      { kind: "died", session: "sandbox-0000000a", exitCode: 3, exitSignal: null },
      { kind: "died", session: "sandbox-0000000b", exitCode: null, exitSignal: 9 },
      { kind: "closed", session: "sandbox-0000000c" },
      { kind: "died", session: "sandbox-0000000e", exitCode: 137, exitSignal: null },
    ]);
    expect(await watcher.recordedStatus("sandbox-0000000e")).toBe(137);
    expect(await watcher.recordedStatus("sandbox-0000000f")).toBeNull();
    await watcher.discard("sandbox-0000000a");
    expect(readdirSync(dir).sort()).toEqual([
      "sandbox-0000000b.died",
      "sandbox-0000000c.closed",
      "sandbox-0000000e.status",
      "unrelated.died",
    ]);
    watcher.close();
    drop("sandbox-0000000d.died", "0 \n");
    await new Promise((r) => setTimeout(r, 50));
    expect(events.length).toBe(4);
  });

  it("builds hook commands that keep the directory inside quotes and never parse tmux quotes twice", () => {
    const { paneDied, sessionClosed } = exitHookCommands("/state dir/exits");
    expect(paneDied.startsWith("run-shell -b '")).toBe(true);
    expect(paneDied).toContain('d="/state dir/exits"');
    expect(paneDied).toContain("#{pane_dead_status}");
    expect(sessionClosed).toContain("#{hook_session_name}.closed");
    // Exactly one pair of tmux single quotes: the shell text inside has none to break out of.
    expect(paneDied.split("'").length).toBe(3);
    expect(sessionClosed.split("'").length).toBe(3);
  });
});
