// Ten TailLogs clients follow a sandbox that prints fast while an eleventh has stopped reading its socket: the
// ten get every line without stalling, the stalled one is cut off instead of being buffered for, and the
// daemon's live memory stays bounded. The long version, with latency figures, is bench/tail-fanout.ts.
import { setMaxListeners } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MIB, memoryAfterGc, memoryProbeEnv } from "../../bench/memory-probe.js";
import { rssKiB } from "../../bench/resource-census.js";
import { LatencyMeter, nonReader, percentile, writePrinterLauncher } from "../../bench/tail-clients.js";
import { Backend, createSandboxClient, LogEndReason } from "../../client/index.js";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import { waitUntil } from "../helpers/wait.js";

const READERS = 10;
// 6 MB/s for 12 s: far more than the daemon may hold while one client stopped reading (HELD_BOUND_MIB).
const LINES_PER_S = 10_000;
const SECONDS = 12;
const LINE_BYTES = 600;
// What the daemon may hold after a full GC during the burst, while the stalled client is still connected: the hub's
// 8 MiB for the stalled client before it is ended, and for it and each reader about three copies of a chunk in
// flight (the read, the encoded message, the envelope; a chunk is at most 256 KiB, and a reader that lags reads its
// history from the file in chunks of that size), with room to spare for a loaded machine.
const HELD_BOUND_MIB = 8 + 2 * (READERS + 1);
const DISPLAY_BASE = 6500;

const fixture = useDaemonFixture();
let launcherDir = "";

beforeAll(async () => {
  launcherDir = await mkdtemp(join(tmpdir(), "csm-printer-"));
  writePrinterLauncher(join(launcherDir, "printer"));
});

afterAll(async () => {
  await rm(launcherDir, { recursive: true, force: true });
});

describe("TailLogs fan-out with a client that stopped reading", () => {
  it(`${READERS} readers get every line in time, the stalled client is cut off, memory stays bounded`, async () => {
    const daemon = await fixture.start({
      env: {
        MANAGER_LAUNCHER_BUBBLEWRAP: join(launcherDir, "printer"),
        MANAGER_DISPLAY_BASE: String(DISPLAY_BASE),
        ...memoryProbeEnv(),
      },
    });
    const pid = daemon.child.pid ?? 0;
    const socketPath = daemon.socketPath ?? "";
    const go = join(fixture.projectDir, `go-${pid}`);
    const { sandbox } = await daemon.client.createSandbox({
      name: "fan-out",
      backend: Backend.BUBBLEWRAP,
      projectDir: fixture.projectDir,
      agentArgs: [go, String(LINES_PER_S), String(SECONDS), String(LINE_BYTES)],
    });
    const id = sandbox?.id ?? "";
    await waitUntil("the printer's ready line", async () =>
      Buffer.from((await daemon.client.getLogs({ id })).data).includes("ready"),
    );
    const start = (await daemon.client.getLogs({ id, limit: 1 })).size;

    const signal = fixture.abortLater();
    setMaxListeners(READERS + 1, signal);
    const meters = Array.from({ length: READERS }, () => new LatencyMeter());
    let attached = 0;
    // Read until the fixture aborts them after the test.
    const readers = meters.map(async (meter) => {
      const client = createSandboxClient({ socketPath });
      let first = true;
      try {
        for await (const message of client.tailLogs({ id, fromOffset: start }, { signal })) {
          if (first) {
            first = false;
            attached++;
          }
          if (message.event.case === "chunk") meter.feed(message.event.value.data);
        }
      } catch (error) {
        if (!signal.aborted) throw error;
      }
    });
    for (const reader of readers) reader.catch(() => {});
    const stalled = nonReader(socketPath, id, start);
    await stalled.response;
    await waitUntil("every reader's first message", () => attached === READERS);
    const before = await memoryAfterGc(pid, daemon.stderr);
    let peakRss = 0;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, rssKiB(pid) * 1024);
    }, 200);

    await writeFile(go, "");
    // Live memory sampled through the burst while the stalled client is surely still connected: it cannot be cut
    // before the daemon's 10 s grace after it stopped reading (TAIL_END_GRACE_MS), and that starts only once
    // 8 MiB have been written past it, which takes at least 1.4 s.
    let held = 0;
    const sampling = (async () => {
      const started = performance.now();
      while (performance.now() - started < 9_000) {
        const sample = await memoryAfterGc(pid, daemon.stderr);
        held = Math.max(held, (sample.arrayBuffers - before.arrayBuffers) / MIB);
        await sleep(1_000);
      }
    })();
    const expected = LINES_PER_S * SECONDS;
    try {
      await waitUntil(
        `${expected} lines at every reader`,
        () => meters.every((m) => m.count >= expected),
        SECONDS * 1000 + 45_000,
      );
    } finally {
      clearInterval(sampler);
    }
    const written = Number((await daemon.client.getLogs({ id, limit: 1 })).size - start);
    expect(written).toBeGreaterThan(2 * HELD_BOUND_MIB * MIB);
    await sampling;

    // Readers were never held up by the stalled one: that would take the daemon's 10 s grace period for a cut-off
    // client, or forever. Seconds of p99 are what a loaded 2-core machine does to 60 MB/s of fan-out.
    const worstP99 = Math.max(...meters.map((m) => percentile(m.sorted(), 0.99)));
    expect(worstP99).toBeLessThan(5000);
    // Without a bound the daemon would hold everything written since the client stopped reading: twice as much.
    expect(
      held,
      `array buffers grew ${held.toFixed(1)} MiB; RSS peaked at ${(peakRss / MIB).toFixed(0)} MiB`,
    ).toBeLessThan(HELD_BOUND_MIB);

    const cut = await stalled.drain(15_000);
    expect(cut.bytes).toBeLessThan(written);
    // Either the end message reached it, or the daemon already closed the connection after its grace period.
    if (cut.end !== undefined) expect(cut.end.reason).toBe(LogEndReason.TOO_SLOW);
    else expect(cut.closed).toBe("closed by the daemon");
  }, 120_000);
});
