// kill -9 of the manager while DeleteSandbox requests are in flight, at a different moment each round, then a
// restart on the same state directory. A delete that answered stays deleted; one that did not has either
// happened, or its record is still there (running and working, or ended), and nothing of the sandbox is left
// that no record owns.
import { describe, expect, it } from "vitest";
import type { Sandbox } from "../../client/index.js";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import { describeKill, type KillAt, killMoment, spreadDelays } from "../helpers/kill-moment.js";
import { expectNothingOrphaned } from "../helpers/orphans.js";
import { createWorking, expectWorking } from "../helpers/sandbox-working.js";
import { stopDaemon } from "../helpers/start-daemon.js";

const fx = useDaemonFixture();
const DISPLAY_BASE = 700;
const DISPLAYS = Array.from({ length: 12 }, (_, i) => DISPLAY_BASE + i);
const env = { MANAGER_DISPLAY_BASE: String(DISPLAY_BASE) };
const PARALLEL = 2;
/** Two deletes of running sandboxes take 50–300 ms here. */
const SPREAD_MS = 300;
/** Random moments, and the moments the first record was saved stopped, and saved gone. */
const KILLS: KillAt[] = [
  ...spreadDelays(8, SPREAD_MS),
  { dir: ".", name: /^state\.json$/ },
  { dir: "logs", name: /\.log$/ },
];

describe("kill -9 of the manager during DeleteSandbox", () => {
  it("keeps answered deletes deleted, loses nothing else, and leaves nothing behind", async () => {
    let daemon = await fx.start({ env });
    for (const [round, at] of KILLS.entries()) {
      const context = `round ${round}, ${describeKill(at)}`;
      const sandboxes: Sandbox[] = [];
      for (let i = 0; i < PARALLEL; i++) {
        sandboxes.push(await createWorking(daemon.client, `round${round}-${i}`, fx.projectDir));
      }
      const moment = killMoment(daemon.stateDir, at);
      const answers = sandboxes.map((s) =>
        daemon.client.deleteSandbox({ id: s.id }).then(
          () => true,
          () => false,
        ),
      );
      await moment;
      await stopDaemon(daemon, "SIGKILL");
      const answered = await Promise.all(answers);

      daemon = await fx.start({ env });
      const records = await expectNothingOrphaned(daemon.stateDir, {
        daemon,
        absent: sandboxes.filter((_, i) => answered[i]).map((s) => s.id),
        displays: DISPLAYS,
      }).catch((error: Error) => {
        throw new Error(`${context}: ${error.message}`);
      });
      for (const s of sandboxes) {
        if (records.get(s.id)?.status === "running")
          await expectWorking(daemon.client, daemon.stateDir, s.id);
      }

      for (const s of sandboxes.filter((s) => records.has(s.id)))
        await daemon.client.deleteSandbox({ id: s.id });
      await expectNothingOrphaned(daemon.stateDir, {
        daemon,
        absent: sandboxes.map((s) => s.id),
        displays: DISPLAYS,
      }).catch((error: Error) => {
        throw new Error(`${context}, after deleting again: ${error.message}`);
      });
      expect((await daemon.client.listSandboxes({})).sandboxes).toEqual([]);
    }
  }, 90_000);
});
