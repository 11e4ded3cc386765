// kill -9 of the manager while DeleteSandbox requests are in flight, at a different moment each round, then a
// restart on the same state directory. A delete that answered stays deleted; one that did not has either
// happened, or its record is still there (running and working, or ended), and nothing of the sandbox is left
// that no record owns.
import { describe, expect, it } from "vitest";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import { type KillAt, spreadDelays } from "../helpers/kill-moment.js";
import { answered, displayRange, inContext, killRounds, workingSandboxes } from "../helpers/kill-rounds.js";
import { expectNothingOrphaned } from "../helpers/orphans.js";
import { expectWorking } from "../helpers/sandbox-working.js";

const fx = useDaemonFixture();
const { displays: DISPLAYS, env } = displayRange(700);
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
    await killRounds(await fx.start({ env }), {
      start: () => fx.start({ env }),
      kills: KILLS,
      prepare: (daemon, round) => workingSandboxes(daemon, fx.projectDir, round, PARALLEL),
      send: (daemon, sandboxes) => sandboxes.map((s) => answered(daemon.client.deleteSandbox({ id: s.id }))),
      check: async ({ daemon, prepared: sandboxes, answers, context }) => {
        const records = await inContext(
          context,
          expectNothingOrphaned(daemon.stateDir, {
            daemon,
            absent: sandboxes.filter((_, i) => answers[i]).map((s) => s.id),
            displays: DISPLAYS,
          }),
        );
        for (const s of sandboxes) {
          if (records.get(s.id)?.status === "running")
            await expectWorking(daemon.client, daemon.stateDir, s.id);
        }

        for (const s of sandboxes.filter((s) => records.has(s.id)))
          await daemon.client.deleteSandbox({ id: s.id });
        await inContext(
          `${context}, after deleting again`,
          expectNothingOrphaned(daemon.stateDir, {
            daemon,
            absent: sandboxes.map((s) => s.id),
            displays: DISPLAYS,
          }),
        );
        expect((await daemon.client.listSandboxes({})).sandboxes).toEqual([]);
      },
    });
  }, 90_000);
});
