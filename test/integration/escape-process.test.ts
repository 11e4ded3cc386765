import { existsSync, readFileSync } from "node:fs";
import { rm, stat } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { requires } from "../helpers/requires.js";
import { useSandboxFixture } from "../helpers/sandbox-home.js";
import { type HostProcess, startHostSleeper } from "../helpers/sandbox-host.js";
import { describeRun, runLauncher } from "../helpers/sandbox-launcher.js";
import { leaks, runProbe } from "../helpers/sandbox-probe.js";
import { ensureTestUser, ROOT, type SandboxUser } from "../helpers/sandbox-user.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root", "userns");

// Processes and privilege: the sandbox sees only its own processes, cannot signal, trace or read a host process,
// and — even when root starts it — holds no capability over the host: no mounts, no remount of /usr, no raw
// disks, no kernel knobs, no setuid-root files left for the host to run.

const users: [string, () => SandboxUser][] = [
  ["root", () => ROOT],
  ["unprivileged user", ensureTestUser],
];

const fixtures = useSandboxFixture({
  beforeCleanup: async (fx) => {
    await rm(`/usr/.escape-${fx.token}`, { force: true });
  },
});
let sleeper: HostProcess | undefined;
afterEach(async () => {
  await sleeper?.close();
  sleeper = undefined;
});

function diskNumbers(): { diskMajor: number; diskMinor: number; rawDisks: string[] } {
  // The host's first block device: what mknod would need to read the disk from inside.
  const lines = readFileSync("/proc/partitions", "utf8").trim().split("\n").slice(2);
  const first = lines[0]?.trim().split(/\s+/) ?? [];
  return {
    diskMajor: Number(first[0] ?? 8),
    diskMinor: Number(first[1] ?? 0),
    rawDisks: lines.map((l) => l.trim().split(/\s+/)[3] ?? "").filter(Boolean),
  };
}

describe.skipIf(missing).each(users)("processes and privilege, as %s", (_label, user) => {
  test("cannot see, signal, trace or read a host process", async () => {
    const fx = await fixtures.create(user());
    sleeper = await startHostSleeper(fx.envSecret);
    const probe = await runProbe(
      fx,
      ["--new", "--no-network"],
      { hostPid: sleeper.pid, hostProcessMarker: sleeper.marker },
      ["process"],
    );
    const attempts = probe.results.filter((r) => r.name !== "probe-done");
    expect(attempts.length, probe.describe()).toBeGreaterThanOrEqual(8);
    expect.soft(leaks(attempts), probe.describe()).toBe("");
    expect(sleeper.alive(), "the host process was killed from inside the sandbox").toBe(true);
  });

  test("kill -KILL -1 inside reaches only the sandbox's own processes", async () => {
    const fx = await fixtures.create(user());
    sleeper = await startHostSleeper(fx.envSecret);
    // The broadest signal a process can send: everything it is allowed to signal. Outside a pid namespace,
    // for root, that is every process on the host.
    const r = await runLauncher(fx, [
      "--new",
      "--no-network",
      "--shell",
      fx.project,
      "--",
      "-c",
      "kill -KILL -1; true",
    ]);
    expect(sleeper.alive(), `a host process died from a kill -1 inside the sandbox: ${describeRun(r)}`).toBe(
      true,
    );
  });

  test("holds no capability over the host: mounts, /usr, devices, kernel knobs, setuid files", async () => {
    const fx = await fixtures.create(user());
    const probe = await runProbe(fx, ["--new", "--no-network"], diskNumbers(), ["caps"]);
    const attempts = probe.results.filter((r) => r.name !== "probe-done");
    expect(attempts.length, probe.describe()).toBeGreaterThanOrEqual(10);
    expect.soft(leaks(attempts), probe.describe()).toBe("");

    expect.soft(existsSync(`/usr/.escape-${fx.token}`), "a file was created in the host's /usr").toBe(false);
    // A setuid binary owned by host root in the project would make any host user who runs it root.
    const suid = path.join(fx.project, `.suid-${fx.token}`);
    if (existsSync(suid)) {
      const st = await stat(suid);
      const setuidRoot = st.uid === 0 && (st.mode & 0o4000) !== 0;
      expect(
        setuidRoot,
        `the sandbox left a setuid-root file on the host: ${suid} mode ${st.mode.toString(8)}`,
      ).toBe(false);
    }
  });
});
