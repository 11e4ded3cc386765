// The launcher's resource limits, run for real: a /tmp filler meets ENOSPC at --tmpfs-size on every writable
// tmpfs, a fork bomb stops at --pids, a memory hog is OOM-killed at --memory inside the sandbox alone, bad values
// exit 2 naming the flag, and where no cgroup may be made the sandbox runs and says which limits it lacks.
// The attacks are bounded themselves (the bomb stops at 300 processes, the hog at 256 MiB), so a limit that
// fails costs the host nothing.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { defaultLimits } from "../../server/sandbox/resource-limits.js";
import { cgroupDirOf } from "../../server/tools/cgroup.js";
import { cgroupV1DirsOf } from "../../server/tools/cgroup-limits.js";
import {
  describeRun,
  IDENTITIES,
  inSandbox,
  launch,
  startLive,
  useLauncherFixture,
} from "../helpers/launcher-harness.js";
import { forkBomb, MEMORY_HOG, whyNoCgroupLimits } from "../helpers/limits-attacks.js";
import { findProcesses } from "../helpers/sandbox-launcher.js";
import { ensureTestUser, ROOT } from "../helpers/sandbox-user.js";

const fixtures = useLauncherFixture();

const MIB = 2 ** 20;

const noCgroup = await whyNoCgroupLimits();

describe("launcher limit flags", () => {
  it.each([
    [["--memory", "12X"], /--memory '12X' is not a size/],
    [["--memory", "1M"], /--memory 1M is too small; give at least 32M/],
    [["--memory=2P"], /--memory '2P' is not a size/],
    [["--swap", "-1"], /--swap '-1' is not a size/],
    [["--pids", "3"], /--pids 3 is out of range; give one from 16 to 4194304/],
    [["--pids", "many"], /--pids 'many' is not a whole number/],
    [["--cpu-weight", "0"], /--cpu-weight 0 is out of range; give one from 1 to 10000/],
    [["--tmpfs-size", "4K"], /--tmpfs-size 4K is too small; give at least 1M/],
    [["--tmpfs-size", "--shell"], /--tmpfs-size '--shell' is not a size/],
    [["--enter", "--memory", "1G"], /--enter and --stop act on a live one and take none of them/],
  ])("refuses %j with exit code 2 and a message naming the flag", async (flags, message) => {
    const fx = await fixtures.create(ROOT);
    const r = await inSandbox(fx, "echo ran", { flags });
    expect(r.exitCode, describeRun(r)).toBe(2);
    expect(String(r.stderr)).toMatch(message);
    expect(String(r.stdout)).not.toContain("ran");
  });

  it("refuses a limit flag without a value, with exit code 2", async () => {
    const fx = await fixtures.create(ROOT);
    const r = await launch(fx, ["--tmpfs-size"]);
    expect(r.exitCode, describeRun(r)).toBe(2);
    expect(String(r.stderr)).toMatch(/--tmpfs-size needs a value, e.g. --tmpfs-size 512M/);
  });

  it("documents every limit flag and its default in --help", async () => {
    const fx = await fixtures.create(ROOT);
    const r = await launch(fx, ["--help"]);
    expect(r.exitCode).toBe(0);
    for (const flag of ["--memory SIZE", "--swap SIZE", "--pids N", "--cpu-weight N", "--tmpfs-size SIZE"]) {
      expect(String(r.stdout)).toContain(flag);
    }
    expect(String(r.stdout)).toMatch(/default: RAM\/2, at most 8G/);
  });
});

describe.each(IDENTITIES)("tmpfs sizes (%s)", (_label, user) => {
  it("every tmpfs the sandbox may write holds --tmpfs-size, then ENOSPC; the root and /dev are read-only", async () => {
    const fx = await fixtures.create(user());
    // 24 MiB into each of /tmp, /dev/shm, /run, the home at a 16 MiB limit; then what the root and /dev take.
    const script = [
      `for d in /tmp /dev/shm /run "$HOME"; do`,
      `  err=$(head -c ${24 * MIB} /dev/zero 2>&1 >"$d/fill")`,
      `  echo "$d $(stat -c %s "$d/fill") $err"`,
      `  rm -f "$d/fill"`,
      `done`,
      `for d in / /dev; do touch "$d/x" 2>/dev/null && echo "$d writable" || echo "$d read-only"; done`,
    ].join("\n");
    const r = await inSandbox(fx, script, { flags: ["--new", "--no-network", "--tmpfs-size", "16M"] });
    expect(r.exitCode, describeRun(r)).toBe(0);
    const out = String(r.stdout);
    for (const d of ["/tmp", "/dev/shm", "/run", fx.home]) {
      const line = out.split("\n").find((l) => l.startsWith(`${d} `)) ?? "";
      expect(line, describeRun(r)).toMatch(/No space left on device/);
      expect(Number(line.split(" ")[1]), line).toBeLessThanOrEqual(16 * MIB);
    }
    expect(out).toContain("/ read-only");
    expect(out).toContain("/dev read-only");
  });
});

describe.skipIf(noCgroup !== null)(
  `cgroup limits of a launch (root)${noCgroup === null ? "" : ` — skipped: ${noCgroup}`}`,
  () => {
    it("a fork bomb stops at --pids: forks fail inside, and the sandbox's cgroup never holds more", async () => {
      const fx = await fixtures.create(ROOT);
      // Bounded: at most 300 sleeping children even without a limit.
      const script = `python3 -c '${forkBomb()}'`;
      const r = await inSandbox(fx, script, { flags: ["--new", "--no-network", "--pids", "64"] });
      const m = /forked (\d+) failed (\d+)/.exec(String(r.stdout));
      expect(m, describeRun(r)).not.toBeNull();
      expect(Number(m?.[1]), describeRun(r)).toBeLessThan(64);
      expect(Number(m?.[2]), describeRun(r)).toBeGreaterThan(200);
    });

    it("a memory hog is OOM-killed at --memory inside the sandbox; the sandbox's shell goes on", async () => {
      const fx = await fixtures.create(ROOT);
      // 256 MiB touched page by page against a 64 MiB limit.
      const script = `python3 -c '${MEMORY_HOG}'\necho "hog status $?"`;
      const r = await inSandbox(fx, script, {
        flags: ["--new", "--no-network", "--memory", "64M", "--swap", "0"],
      });
      expect(r.exitCode, describeRun(r)).toBe(0);
      expect(String(r.stdout)).not.toContain("hog survived");
      expect(String(r.stdout)).toContain("hog status 137");
    });
  },
);

describe.skipIf(noCgroup !== null)(
  `limits of a registered sandbox (root)${noCgroup === null ? "" : ` — skipped: ${noCgroup}`}`,
  () => {
    it("holds the founder's limits; a launch that joins with limit flags is told they do not apply", async () => {
      const fx = await fixtures.create(ROOT);
      const { live, marker } = await startLive(fx, ["--no-network", "--pids", "100"]);
      try {
        // The founder's process limit is what the sandbox's own processes see of their cgroup.
        const [sleeper] = await findProcesses(`sleep ${marker}`);
        if (sleeper === undefined) throw new Error("the sandbox's sleep is gone");
        const pidsDir = (await cgroupV1DirsOf(sleeper.pid)).get("pids");
        const v2 = await cgroupDirOf(sleeper.pid);
        const max = [pidsDir, v2]
          .filter((d): d is string => d !== undefined && d !== null && existsSync(join(d, "pids.max")))
          .map((d) => readFileSync(join(d, "pids.max"), "utf8").trim());
        expect(max).toContain("100");
        // What no flag set has the host-relative default: memory min(8 GiB, RAM/2), each tmpfs min(1 GiB, RAM/8).
        const defaults = defaultLimits();
        const memoryDir = (await cgroupV1DirsOf(sleeper.pid)).get("memory");
        const memory = [memoryDir, v2]
          .flatMap((d) =>
            d === undefined || d === null ? [] : [join(d, "memory.max"), join(d, "memory.limit_in_bytes")],
          )
          .filter((f) => existsSync(f))
          .map((f) => Number(readFileSync(f, "utf8").trim()));
        const page = 4096;
        expect(memory).toContain(Math.floor(defaults.memory_bytes / page) * page);
        const joined = await inSandbox(fx, "echo joined; df -B1 --output=size /tmp | tail -n 1", {
          flags: ["--memory", "1G"],
        });
        expect(joined.exitCode, describeRun(joined)).toBe(0);
        expect(String(joined.stdout)).toContain("joined");
        const tmpSize = Number(String(joined.stdout).trim().split("\n").at(-1));
        expect(tmpSize).toBe(Math.floor(defaults.tmpfs_bytes / page) * page);
        expect(String(joined.stderr)).toMatch(/is live and keeps the limits it was started with/);
        // A shell that joins counts against the sandbox's process limit too, wherever it is held.
        const bomb = await inSandbox(fx, `python3 -c '${forkBomb()}'`, { flags: [] });
        const m = /forked (\d+) failed (\d+)/.exec(String(bomb.stdout));
        expect(m, describeRun(bomb)).not.toBeNull();
        expect(Number(m?.[1]), describeRun(bomb)).toBeLessThan(100);
      } finally {
        await launch(fx, ["--stop", fx.project]);
        await live;
      }
    });
  },
);

describe.skipIf(noCgroup !== null)(
  `doctor on the limits${noCgroup === null ? "" : ` — skipped: ${noCgroup}`}`,
  () => {
    it("says where each limit is held for root, and which ones a user's sandboxes go without and why", async () => {
      const check = async (user: ReturnType<typeof ensureTestUser>) => {
        const fx = await fixtures.create(user);
        const r = await launch(fx, ["doctor", "--json"]);
        const line = String(r.stdout)
          .split("\n")
          .find((l) => l.includes('"check":"limits"'));
        expect(line, describeRun(r)).toBeDefined();
        return JSON.parse(line ?? "{}") as { status: string; detail: string; fix: string };
      };
      const root = await check(ROOT);
      expect(root.status).toBe("ok");
      expect(root.detail).toMatch(/sandboxes get limits on memory \(cgroup v[12] below [^)]+\), processes/);
      const user = await check(ensureTestUser());
      expect(user.status).toBe("warn");
      expect(user.detail).toMatch(/sandboxes run without limits on memory, processes, cpu weight: /);
      expect(user.fix).toMatch(/Delegate=yes/);
    });
  },
);

describe("where no cgroup may be made", () => {
  it("the sandbox runs without the cgroup limits and says which ones it lacks", async () => {
    const fx = await fixtures.create(ensureTestUser());
    const r = await inSandbox(fx, "echo ran", {
      flags: ["--new", "--no-network", "--memory", "1G", "--pids", "512"],
    });
    expect(r.exitCode, describeRun(r)).toBe(0);
    expect(String(r.stdout)).toContain("ran");
    expect(String(r.stderr)).toMatch(
      /could not apply the sandbox's limits on memory, swap, processes, cpu weight: no cgroup/,
    );
  });
});
