import { describe, expect, it } from "vitest";
import { logSandboxEvents } from "../../server/log-sandbox-events.js";
import { createFakeManager, fakeRecord } from "../helpers/fake-manager.js";

describe("logSandboxEvents", () => {
  it("logs one line per status change and stays quiet for updates that keep the status", async () => {
    const manager = createFakeManager();
    const adopted = fakeRecord({ id: "aaaaaaaa-0000-4000-8000-000000000000", name: "adopted" });
    manager.seed(adopted);
    const lines: string[] = [];
    const unsubscribe = logSandboxEvents(manager, (l) => lines.push(l));

    const created = await manager.create({ name: "web", backend: "container", projectDir: "/p" });
    const short = created.id.slice(0, 8);
    manager.update({ ...created, pid_xvfb: 999 });
    manager.update({ ...adopted, status: "dead", status_reason: "the launcher exited with status 3" });
    await manager.stop(created.id);
    await manager.delete(created.id);
    unsubscribe();
    await manager.delete(adopted.id);

    expect(lines).toEqual([
      `sandbox ${short} ("web", container) created: display :50, tmux session sandbox-${short}`,
      'sandbox aaaaaaaa ("adopted", bubblewrap) dead: the launcher exited with status 3',
      `sandbox ${short} ("web", container) stopped: stopped on request`,
      `sandbox ${short} deleted`,
    ]);
  });
});
