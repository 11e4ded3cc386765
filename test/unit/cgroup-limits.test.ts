// Where a sandbox's limits are written: cgroup v2 where the controllers reach its cgroup, else each controller's v1
// hierarchy, else nowhere with a note saying why. Plain directories stand in for cgroupfs here (cgroupfs files
// exist only where the kernel offers them, as the v2 ones are created below); the real hierarchies are exercised
// by the launcher-limits and daemon-limits tests.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { defaultLimits } from "../../server/sandbox/resource-limits.js";
import { oomKillCount, writeLimits } from "../../server/tools/cgroup-limits.js";

const MIB = 2 ** 20;
const limits = {
  ...defaultLimits(),
  memory_bytes: 256 * MIB,
  swap_bytes: 0,
  max_processes: 128,
  cpu_weight: 50,
};
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "cgroup-limits-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const read = (...path: string[]) => readFileSync(join(dir, ...path), "utf8").trim();

/** A v2 cgroup whose controllers put their files in it, as the kernel does. */
function v2Cgroup(files: string[]): string {
  const v2 = join(dir, "v2");
  mkdirSync(v2);
  for (const f of files) writeFileSync(join(v2, f), "max\n");
  return v2;
}

describe("writeLimits", () => {
  it("uses cgroup v2 for every controller it offers", async () => {
    const v2 = v2Cgroup(["memory.max", "memory.swap.max", "pids.max", "cpu.weight"]);
    const result = await writeLimits(
      { v2, v2Controllers: new Set(["memory", "pids", "cpu"]), v1: new Map(), v2Why: "" },
      limits,
    );
    expect(result).toEqual({
      applied: true,
      note: "",
      usage: { memory: { version: 2, dir: v2 }, pids: { version: 2, dir: v2 } },
      v1Dirs: [],
    });
    expect([
      read("v2/memory.max"),
      read("v2/memory.swap.max"),
      read("v2/pids.max"),
      read("v2/cpu.weight"),
    ]).toEqual([String(256 * MIB), "0", "128", "50"]);
  });

  it("falls back to each controller's v1 hierarchy (a hybrid host), memsw as memory plus swap, cpu.shares", async () => {
    const v2 = v2Cgroup([]);
    const v1 = new Map([
      ["memory", join(dir, "memory", "sandbox-x")],
      ["pids", join(dir, "pids", "sandbox-x")],
      ["cpu", join(dir, "cpu", "sandbox-x")],
    ] as const);
    const v1Files = {
      memory: ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"],
      pids: ["pids.max"],
      cpu: ["cpu.shares"],
    };
    for (const [controller, cg] of v1) {
      mkdirSync(cg, { recursive: true });
      for (const f of v1Files[controller]) writeFileSync(join(cg, f), "9223372036854771712\n");
    }
    const result = await writeLimits(
      { v2, v2Controllers: new Set(), v1, v2Why: "cgroup v2 offers no memory/pids/cpu controller at /x" },
      { ...limits, swap_bytes: 64 * MIB },
    );
    expect(result.applied).toBe(true);
    expect(result.usage).toEqual({
      memory: { version: 1, dir: v1.get("memory") },
      pids: { version: 1, dir: v1.get("pids") },
    });
    expect(result.v1Dirs).toEqual([...v1.values()]);
    expect(read("memory/sandbox-x/memory.limit_in_bytes")).toBe(String(256 * MIB));
    expect(read("memory/sandbox-x/memory.memsw.limit_in_bytes")).toBe(String(320 * MIB));
    expect(read("pids/sandbox-x/pids.max")).toBe("128");
    expect(read("cpu/sandbox-x/cpu.shares")).toBe("512");
  });

  it("holds no swap limit where v1 has no swap accounting, and says so", async () => {
    const v2 = v2Cgroup([]);
    const memory = join(dir, "memory", "sandbox-x");
    mkdirSync(memory, { recursive: true });
    writeFileSync(join(memory, "memory.limit_in_bytes"), "0\n");
    const result = await writeLimits(
      { v2, v2Controllers: new Set(), v1: new Map([["memory", memory]]), v2Why: "w" },
      limits,
    );
    expect(result.note).toMatch(/swap not limited: cgroup v1 has no swap accounting here/);
    expect(existsSync(join(memory, "memory.memsw.limit_in_bytes"))).toBe(false);
  });

  it("says which limits are held nowhere, and why", async () => {
    const v2 = v2Cgroup([]);
    mkdirSync(join(dir, "pids", "sandbox-x"), { recursive: true });
    writeFileSync(join(dir, "pids", "sandbox-x", "pids.max"), "max\n");
    const result = await writeLimits(
      {
        v2,
        v2Controllers: new Set(),
        v1: new Map([["pids", join(dir, "pids", "sandbox-x")]]),
        v2Why: "cgroup v2 offers no memory/pids/cpu controller at /x",
      },
      limits,
    );
    expect(result.applied).toBe(false);
    expect(result.note).toBe(
      "memory, cpu weight not limited: cgroup v2 offers no memory/pids/cpu controller at /x, and no cgroup v1 memory/cpu hierarchy is writable",
    );
    expect(result.usage).toEqual({ memory: null, pids: { version: 1, dir: join(dir, "pids", "sandbox-x") } });
    expect(existsSync(join(v2, "memory.max"))).toBe(false);
  });
});

describe("oomKillCount", () => {
  it("reads oom_kill from memory.events (v2) and memory.oom_control (v1)", async () => {
    writeFileSync(join(dir, "memory.events"), "low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\n");
    writeFileSync(join(dir, "memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
    expect(await oomKillCount({ version: 2, dir })).toBe(2);
    expect(await oomKillCount({ version: 1, dir })).toBe(1);
    expect(await oomKillCount({ version: 2, dir: join(dir, "gone") })).toBe(0);
    expect(await oomKillCount(null)).toBe(0);
  });
});
