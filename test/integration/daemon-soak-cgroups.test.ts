// Deleting a sandbox removes the cgroups the manager made for it, in every hierarchy: the cgroup v2 one and the
// v1 memory, pids and cpu ones (a delete used to stop after the v2 one, and every create/delete cycle left a v1
// memory cgroup behind). The full create/delete soak is bench/soak-cycles.ts.
import { describe, expect, it } from "vitest";
import { type CensusScope, takeCensus } from "../../bench/resource-census.js";
import { createDeleteCycle } from "../../bench/soak-workloads.js";
import { Backend } from "../../client/index.js";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";

const CYCLES = 5;
const DISPLAY_BASE = 5600;

const fixture = useDaemonFixture();

describe("sandbox cgroups", () => {
  it(`${CYCLES} create/delete cycles leave none of the sandboxes' cgroups`, async () => {
    const daemon = await fixture.start({ env: { MANAGER_DISPLAY_BASE: String(DISPLAY_BASE) } });
    const scope: CensusScope = {
      pid: daemon.child.pid ?? 0,
      stateDir: daemon.stateDir,
      displays: [DISPLAY_BASE, DISPLAY_BASE + 99],
    };
    const { sandbox } = await daemon.client.createSandbox({
      name: "running",
      backend: Backend.BUBBLEWRAP,
      projectDir: fixture.projectDir,
    });
    // Where the manager can make cgroups, a running sandbox has them; where it cannot, there is nothing to leave.
    const running = takeCensus(scope).cgroups;
    expect(running.every((c) => c.endsWith(sandbox?.id ?? "?"))).toBe(true);

    for (let i = 0; i < CYCLES; i++) await createDeleteCycle(daemon.client, fixture.projectDir, `cycle-${i}`);

    expect(takeCensus(scope).cgroups).toEqual(running);
    await daemon.client.deleteSandbox({ id: sandbox?.id ?? "" });
    expect(takeCensus(scope).cgroups).toEqual([]);
  });
});
