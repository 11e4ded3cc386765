// kill -9 of the manager while StopSandbox requests are in flight, at a different moment each round, then a
// restart on the same state directory. No record may be lost: a stop that answered is stopped, one that did not
// is either still running and working, or stopped or dead, with nothing of the sandbox left.
import { describe, expect, it } from "vitest";
import { type Sandbox, SandboxStatus } from "../../client/index.js";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import { describeKill, type KillAt, killMoment, spreadDelays } from "../helpers/kill-moment.js";
import { expectNothingOrphaned } from "../helpers/orphans.js";
import { createWorking, expectWorking } from "../helpers/sandbox-working.js";
import { stopDaemon } from "../helpers/start-daemon.js";

const fx = useDaemonFixture();
const DISPLAY_BASE = 680;
const DISPLAYS = Array.from({ length: 12 }, (_, i) => DISPLAY_BASE + i);
const env = { MANAGER_DISPLAY_BASE: String(DISPLAY_BASE) };
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
    let daemon = await fx.start({ env });
    for (const [round, at] of KILLS.entries()) {
      const context = `round ${round}, ${describeKill(at)}`;
      const sandboxes: Sandbox[] = [];
      for (let i = 0; i < PARALLEL; i++) {
        sandboxes.push(await createWorking(daemon.client, `round${round}-${i}`, fx.projectDir));
      }
      const moment = killMoment(daemon.stateDir, at);
      const answers = sandboxes.map((s) =>
        daemon.client.stopSandbox({ id: s.id }).then(
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
        present: sandboxes.map((s) => s.id),
        displays: DISPLAYS,
      }).catch((error: Error) => {
        throw new Error(`${context}: ${error.message}`);
      });
      for (const [i, s] of sandboxes.entries()) {
        const status = records.get(s.id)?.status;
        if (answered[i]) expect(status, `${context}: ${s.name}'s stop answered`).toBe("stopped");
        if (status === "running") await expectWorking(daemon.client, daemon.stateDir, s.id);
        else expect(["stopped", "dead"], `${context}: ${s.name}`).toContain(status);
      }

      // Whatever the kill left, a stop and a delete now finish the job.
      for (const s of sandboxes) {
        const stopped = (await daemon.client.stopSandbox({ id: s.id })).sandbox;
        expect(stopped?.status, `${context}: ${s.name} stopped again`).not.toBe(SandboxStatus.RUNNING);
        await daemon.client.deleteSandbox({ id: s.id });
      }
      await expectNothingOrphaned(daemon.stateDir, {
        daemon,
        absent: sandboxes.map((s) => s.id),
        displays: DISPLAYS,
      }).catch((error: Error) => {
        throw new Error(`${context}, after stop and delete: ${error.message}`);
      });
    }
  }, 90_000);
});
