// GetSystemMetrics and GET /api/metrics/system against the real daemon (real Xvfb, tmux, a fixture launcher whose
// load the test drives): the figures agree with what /proc and statfs say, CPU moves when a core is burned, a
// sandbox's busy loop and memory show in its entry, and loopback traffic is not counted as network.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { statfs } from "node:fs/promises";
import { createServer, connect as netConnect } from "node:net";
import { cpus } from "node:os";
import { join } from "node:path";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { Backend, type GetSystemMetricsResponse, type SandboxClient } from "../../client/index.js";
import { REPO_ROOT } from "../helpers/build.js";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import { SEED_SYSTEM_METRICS_FIELDS } from "../helpers/seed-shapes.js";
import { FIXTURE_BIN, typeIntoPane } from "../helpers/start-daemon.js";
import { openUnixTunnel } from "../helpers/unix-tunnel.js";
import { waitUntil } from "../helpers/wait.js";

const fx = useDaemonFixture();
const LOAD_BIN = join(REPO_ROOT, "test/fixtures/bin-load");
const ENV = {
  MANAGER_DISPLAY_BASE: "7700",
  PATH: `${LOAD_BIN}:${FIXTURE_BIN}:${process.env.PATH ?? "/usr/bin:/bin"}`,
};
const MiB = 1024 * 1024;

function memTotalBytes(): number {
  return Number(/^MemTotal:\s+(\d+) kB$/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1]) * 1024;
}

/** The first answer sampled after `after` (the daemon samples every 2 s). */
async function nextSample(
  client: SandboxClient,
  after: GetSystemMetricsResponse,
): Promise<GetSystemMetricsResponse> {
  const since = after.sampledAt === undefined ? 0 : timestampMs(after.sampledAt);
  return waitUntil(
    "a new sample",
    async () => {
      const m = await client.getSystemMetrics({});
      return m.sampledAt !== undefined && timestampMs(m.sampledAt) > since ? m : null;
    },
    6000,
    100,
  );
}

/** Keeps one core busy for `ms` in a child process (the test's own event loop stays free to ask). */
function burnCore(ms: number): Promise<void> {
  const child = spawn(
    process.execPath,
    ["-e", `const end = Date.now() + ${ms}; while (Date.now() < end) {}`],
    {
      stdio: "ignore",
    },
  );
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", () => resolve());
  });
}

describe("system metrics", () => {
  it("reports the host's memory, the state dir's disk, CPU count, load and uptime, over RPC and REST", async () => {
    const daemon = await fx.start({ env: ENV });
    const m = await daemon.client.getSystemMetrics({});
    expect(Number(m.memoryTotal)).toBe(memTotalBytes());
    expect(Number(m.memoryUsed)).toBeGreaterThan(0);
    expect(Number(m.memoryUsed)).toBeLessThan(Number(m.memoryTotal));
    const fs = await statfs(daemon.stateDir);
    expect(Number(m.diskTotal)).toBe(fs.blocks * fs.bsize);
    // Used changes as others write; it is the file system's total less its free blocks.
    expect(Math.abs(Number(m.diskUsed) - (fs.blocks - fs.bfree) * fs.bsize)).toBeLessThan(512 * MiB);
    expect(m.cpuCount).toBe(cpus().length);
    expect(m.loadAverage).toHaveLength(3);
    const uptime = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
    expect(Math.abs(m.uptimeSeconds - uptime)).toBeLessThan(5);
    if (m.sampledAt === undefined) throw new Error("no sampled_at");
    expect(Date.now() - timestampMs(m.sampledAt)).toBeLessThan(5000);
    expect(m.cpuUsage).toBeGreaterThanOrEqual(0);
    expect(m.cpuUsage).toBeLessThanOrEqual(100);
    expect(m.sandboxes).toEqual([]);

    const tunnel = await openUnixTunnel(daemon.socketPath ?? "");
    fx.cleanupLater(() => tunnel.close());
    const response = await fetch(`${tunnel.url}/api/metrics/system`);
    expect(response.status).toBe(200);
    const json = (await response.json()) as Record<string, unknown>;
    for (const field of SEED_SYSTEM_METRICS_FIELDS) expect(json).toHaveProperty(field);
    expect(json).toMatchObject({
      memory_total: memTotalBytes(),
      disk_total: fs.blocks * fs.bsize,
      cpu_count: cpus().length,
      sandboxes: [],
    });
    expect(typeof json.cpu_usage).toBe("number");
    expect(typeof json.uptime_seconds).toBe("number");
    expect(Date.parse(String(json.sampled_at))).toBeGreaterThan(Date.now() - 5000);
  });

  it("moves CPU usage above the idle figure while a core burns", async () => {
    const { client } = await fx.start({ env: ENV });
    // An interval with nothing of the test's running.
    const idle = (await nextSample(client, await nextSample(client, await client.getSystemMetrics({}))))
      .cpuUsage;
    const burning = burnCore(3000);
    let peak = 0;
    let last = await client.getSystemMetrics({});
    // 3 s of burning cover at least one whole 2 s interval.
    for (let i = 0; i < 2; i++) {
      last = await nextSample(client, last);
      peak = Math.max(peak, last.cpuUsage);
    }
    await burning;
    // One core of N busy is 100/N % of the machine; others share it, so only most of that is asked for.
    expect(peak, `idle ${idle} %, peak ${peak} %`).toBeGreaterThan(
      Math.min(idle + 20, (100 / cpus().length) * 0.8),
    );
    expect(peak).toBeGreaterThan(idle);
  });

  it("shows a sandbox's busy loop and its memory in the sandbox's entry", async () => {
    const daemon = await fx.start({ env: ENV });
    const { client } = daemon;
    const { sandbox } = await client.createSandbox({
      name: "load",
      backend: Backend.BUBBLEWRAP,
      projectDir: fx.projectDir,
    });
    if (sandbox === undefined) throw new Error("no sandbox in the response");
    const { id } = sandbox;
    const logs = async () => Buffer.from((await client.getLogs({ id })).data).toString();
    await waitUntil("the launcher to start", async () => (await logs()).includes("fixture-load ready"));
    const entry = async () => (await client.getSystemMetrics({})).sandboxes.find((s) => s.id === id);
    const quiet = await waitUntil("a CPU figure for the sandbox", async () => {
      const e = await entry();
      return e?.cpuPercent !== undefined ? e : null;
    });
    expect(quiet.cpuPercent).toBeLessThan(30);
    const memoryBefore = Number(quiet.memoryBytes ?? 0n);
    expect(memoryBefore).toBeGreaterThan(0);

    await typeIntoPane(daemon.stateDir, sandbox.tmuxSession ?? "", "busy");
    await waitUntil("the busy loop", async () => (await logs()).includes("fixture-load busy"));
    // About a whole core; the machine is shared, so most of one is enough.
    const busy = await waitUntil(
      "the sandbox's CPU to show its busy loop",
      async () => {
        const e = await entry();
        return (e?.cpuPercent ?? 0) > 60 ? e : null;
      },
      10_000,
      200,
    );
    expect(busy.cpuPercent).toBeLessThanOrEqual(100 * cpus().length + 5);

    await typeIntoPane(daemon.stateDir, sandbox.tmuxSession ?? "", "hog 96");
    await waitUntil("the memory hog", async () => (await logs()).includes("fixture-load holding"), 15_000);
    const held = await waitUntil(
      "the sandbox's memory to grow by the hog's 96 MiB",
      async () => {
        const e = await entry();
        return Number(e?.memoryBytes ?? 0n) - memoryBefore > 90 * MiB ? e : null;
      },
      10_000,
      200,
    );
    // Where the sandbox has a memory cgroup, the entry is that cgroup's figure, as GetSandbox reports it.
    const usage = (await client.getSandbox({ id })).sandbox?.usage?.memoryCurrentBytes;
    if (usage !== undefined) {
      expect(Math.abs(Number(usage) - Number(held.memoryBytes))).toBeLessThan(32 * MiB);
    }
  });

  it("leaves loopback traffic out of the network figures", async () => {
    const { client } = await fx.start({ env: ENV });
    const before = await client.getSystemMetrics({});
    const bytes = 64 * MiB;
    const server = createServer((socket) => socket.resume());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    fx.cleanupLater(() => new Promise((resolve) => server.close(resolve)));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((resolve, reject) => {
      const socket = netConnect(port, "127.0.0.1", () => {
        const chunk = Buffer.alloc(MiB);
        for (let i = 0; i < bytes / MiB; i++) socket.write(chunk);
        socket.end();
      });
      socket.once("error", reject);
      socket.once("close", () => resolve());
    });
    const loRx = () => Number(/^\s*lo:\s*(\d+)/m.exec(readFileSync("/proc/net/dev", "utf8"))?.[1] ?? 0);
    expect(loRx()).toBeGreaterThan(bytes); // the traffic did go over loopback
    const after = await nextSample(client, before);
    // Other traffic of the machine is noise, far below what was sent.
    expect(Number(after.netRxBytes - before.netRxBytes)).toBeLessThan(4 * MiB);
    expect(Number(after.netTxBytes - before.netTxBytes)).toBeLessThan(4 * MiB);
  });
});
