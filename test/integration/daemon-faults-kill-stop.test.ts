// kill -9 of the manager while StopSandbox requests are in flight, at a different moment each round, then a
// restart on the same state directory. No record may be lost: a stop that answered is stopped, one that did not
// is either still running and working, or stopped or dead, with nothing of the sandbox left.
import { describe, expect, it } from "vitest";
import { SandboxStatus } from "../../client/index.js";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import { type KillAt, spreadDelays } from "../helpers/kill-moment.js";
import { answered, displayRange, inContext, killRounds, workingSandboxes } from "../helpers/kill-rounds.js";
import { expectNothingOrphaned } from "../helpers/orphans.js";
import { expectWorking } from "../helpers/sandbox-working.js";

const fx = useDaemonFixture();
const { displays: DISPLAYS, env } = displayRange(680);
const PARALLEL = 2;
/** Two stops take 50–300 ms here (the launcher's tree, the session, Xvfb, then the record). */
const SPREAD_MS = 300;
/** Random moments, and the moments the first stop's record was being written, and was saved (answered or not). */
const KILLS: KillAt[] = [
  ...spreadDelays(8, SPREAD_MS),
  { dir: ".", name: /^state\.json\.[0-9]+$/ },
  { dir: ".", name: /^state\.json$/ },
];

describe("kill -9 of the manager during StopSandbox", () => {
  it("loses no record and leaves each sandbox running and working or stopped without a trace", async () => {
    await killRounds(await fx.start({ env }), {
      start: () => fx.start({ env }),
      kills: KILLS,
      prepare: (daemon, round) => workingSandboxes(daemon, fx.projectDir, round, PARALLEL),
      send: (daemon, sandboxes) => sandboxes.map((s) => answered(daemon.client.stopSandbox({ id: s.id }))),
      check: async ({ daemon, prepared: sandboxes, answers, context }) => {
        const records = await inContext(
          context,
          expectNothingOrphaned(daemon.stateDir, {
            daemon,
            present: sandboxes.map((s) => s.id),
            displays: DISPLAYS,
          }),
        );
        for (const [i, s] of sandboxes.entries()) {
          const status = records.get(s.id)?.status;
          if (answers[i]) expect(status, `${context}: ${s.name}'s stop answered`).toBe("stopped");
          if (status === "running") await expectWorking(daemon.client, daemon.stateDir, s.id);
          else expect(["stopped", "dead"], `${context}: ${s.name}`).toContain(status);
        }

        // Whatever the kill left, a stop and a delete now finish the job.
        for (const s of sandboxes) {
          const stopped = (await daemon.client.stopSandbox({ id: s.id })).sandbox;
          expect(stopped?.status, `${context}: ${s.name} stopped again`).not.toBe(SandboxStatus.RUNNING);
          await daemon.client.deleteSandbox({ id: s.id });
        }
        await inContext(
          `${context}, after stop and delete`,
          expectNothingOrphaned(daemon.stateDir, {
            daemon,
            absent: sandboxes.map((s) => s.id),
            displays: DISPLAYS,
          }),
        );
      },
    });
  }, 90_000);
});
