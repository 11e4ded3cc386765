// kill -9 of the manager while CreateSandbox requests are in flight, at a different moment each round, then a
// restart on the same state directory. Whatever the moment: a create that answered is running and works, a
// create that never answered is either running and working or gone without a trace, no older record is lost,
// and nothing is left that no record owns (Xvfb, tmux session, launcher, X socket, file).
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Backend, type Sandbox } from "../../client/index.js";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import { type KillAt, spreadDelays } from "../helpers/kill-moment.js";
import { displayRange, inContext, killRounds } from "../helpers/kill-rounds.js";
import { expectNothingOrphaned } from "../helpers/orphans.js";
import { createWorking, expectWorking } from "../helpers/sandbox-working.js";
import { stopDaemon } from "../helpers/start-daemon.js";

const fx = useDaemonFixture();
const { displays: DISPLAYS, env } = displayRange(660);
/** Creates in flight per round: more than one, so the kill also lands between two creates' steps. */
const PARALLEL = 2;
/** Two creates take 150–600 ms here: random kill moments are drawn from this span, one per slice of it. */
const SPREAD_MS = 400;

/**
 * Random moments, and the moments a random draw rarely hits: as soon as a create has made its first file (its
 * cookie, in run/), while its record is being written (the atomic write's temp file exists), and as soon as it
 * was saved (state.json replaced) but before the answer went out.
 */
const KILLS: KillAt[] = [
  ...spreadDelays(8, SPREAD_MS),
  { dir: "run", name: /^[0-9a-f-]{36}\.xauth$/ },
  { dir: "run", name: /^[0-9a-f-]{36}\.xauth$/ },
  { dir: ".", name: /^state\.json\.[0-9]+$/ },
  { dir: ".", name: /^state\.json$/ },
  { dir: ".", name: /^state\.json$/ },
];

describe("kill -9 of the manager during CreateSandbox", () => {
  it("leaves each create either running and working or gone without a trace, round after round", async () => {
    const first = await fx.start({ env });
    const anchor = await createWorking(first.client, "anchor", fx.projectDir);
    const daemon = await killRounds(first, {
      start: () => fx.start({ env }),
      kills: KILLS,
      prepare: async (_daemon, round) => Array.from({ length: PARALLEL }, (_, i) => `round${round}-${i}`),
      send: (daemon, names) =>
        names.map((name) =>
          daemon.client.createSandbox({ name, backend: Backend.BUBBLEWRAP, projectDir: fx.projectDir }).then(
            (r) => r.sandbox,
            () => undefined,
          ),
        ),
      check: async ({ daemon, prepared: names, answers, context }) => {
        const answered = answers.filter((s): s is Sandbox => s !== undefined);
        const { sandboxes } = await daemon.client.listSandboxes({});
        const ofRound = sandboxes.filter((s) => names.includes(s.name));
        for (const s of answered)
          expect(
            ofRound.map((r) => r.id),
            `${context}: answered ${s.name}`,
          ).toContain(s.id);
        // Present, answered or not, means running and working: a half-made sandbox must not be kept.
        for (const s of ofRound) {
          await inContext(
            `${context}: ${s.name} ${answered.some((a) => a.id === s.id) ? "(answered)" : "(never answered)"}`,
            expectWorking(daemon.client, daemon.stateDir, s.id),
          );
        }
        await inContext(
          context,
          expectNothingOrphaned(daemon.stateDir, {
            daemon,
            present: [anchor.id, ...answered.map((s) => s.id)],
            displays: DISPLAYS,
          }),
        );

        for (const s of ofRound) await daemon.client.deleteSandbox({ id: s.id });
        await inContext(
          `${context}, after deleting the round's sandboxes`,
          expectNothingOrphaned(daemon.stateDir, {
            daemon,
            present: [anchor.id],
            absent: ofRound.map((s) => s.id),
            displays: DISPLAYS,
          }),
        );
      },
    });
    await expectWorking(daemon.client, daemon.stateDir, anchor.id);
    await daemon.client.deleteSandbox({ id: anchor.id });
    await expectNothingOrphaned(daemon.stateDir, {
      daemon,
      absent: [anchor.id],
      displays: DISPLAYS,
    });
  }, 90_000);

  it("removes what a state.json write cut short left, and keeps the state it replaced", async () => {
    const daemon = await fx.start({ env });
    const kept = await createWorking(daemon.client, "kept", fx.projectDir);
    await stopDaemon(daemon, "SIGKILL");
    // What write-file-atomic leaves when the manager dies between writing its temp file and renaming it.
    const state = await readFile(join(daemon.stateDir, "state.json"), "utf8");
    await writeFile(join(daemon.stateDir, "state.json.1234567890"), state.slice(0, state.length / 2));

    const restarted = await fx.start({ env });
    expect(await readFile(join(daemon.stateDir, "state.json"), "utf8")).toBe(state);
    await expectWorking(restarted.client, restarted.stateDir, kept.id);
    await expectNothingOrphaned(restarted.stateDir, {
      daemon: restarted,
      present: [kept.id],
      displays: DISPLAYS,
    });
  });
});
