// Resource limits as a client gives them: defaults relative to the host, every value checked with the field named,
// the tmpfs size on the launcher's command line, and the limits and current use in the Sandbox message.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ResourceLimitsSchema } from "../../gen/claude_sandbox/v1/sandbox_service_pb.js";
import { launcherArgv } from "../../server/sandbox/launcher-argv.js";
import {
  defaultLimits,
  formatBytes,
  oomReason,
  validateLimits,
} from "../../server/sandbox/resource-limits.js";
import type { SandboxRecord } from "../../server/sandbox/types.js";
import { validateCreateInput } from "../../server/sandbox/validate-input.js";
import { limitsFromMessage, toSandboxMessage } from "../../server/service/to-sandbox-message.js";
import { cpuShares } from "../../server/tools/cgroup-limits.js";
import { sandboxRecord } from "../helpers/sandbox-record.js";

const GIB = 2 ** 30;
const MIB = 2 ** 20;

describe("default limits", () => {
  it("are relative to the host's RAM: half of it (at most 8 GiB), an eighth per tmpfs (at most 1 GiB)", () => {
    expect(defaultLimits(4 * GIB)).toEqual({
      memory_bytes: 2 * GIB,
      swap_bytes: 0,
      max_processes: 4096,
      cpu_weight: 100,
      tmpfs_bytes: 512 * MIB,
    });
    expect(defaultLimits(64 * GIB)).toMatchObject({ memory_bytes: 8 * GIB, tmpfs_bytes: GIB });
  });
});

describe("limit validation", () => {
  const defaults = defaultLimits(16 * GIB);

  it("keeps what is given and fills in the rest", () => {
    expect(validateLimits({ memory_bytes: 512 * MIB, max_processes: 64 }, defaults)).toEqual({
      ...defaults,
      memory_bytes: 512 * MIB,
      max_processes: 64,
    });
    expect(validateLimits(undefined, defaults)).toEqual(defaults);
  });

  it.each([
    ["memory_bytes", 1024, /limits\.memory_bytes: is 1024; it must be from 33554432 to/],
    ["memory_bytes", 2 ** 51, /limits\.memory_bytes: is 2251799813685248; it must be from/],
    ["swap_bytes", -1, /limits\.swap_bytes: is -1/],
    ["max_processes", 15, /limits\.max_processes: is 15; it must be from 16 to 4194304 processes/],
    ["max_processes", 4194305, /limits\.max_processes/],
    ["cpu_weight", 0, /limits\.cpu_weight: is 0; it must be from 1 to 10000$/],
    ["cpu_weight", 10001, /limits\.cpu_weight/],
    ["tmpfs_bytes", 4096, /limits\.tmpfs_bytes: is 4096; it must be from 1048576/],
    ["memory_bytes", 1.5, /limits\.memory_bytes: must be a whole number/],
    ["memory_bytes", "1G", /limits\.memory_bytes: must be a whole number/],
  ])("refuses %s = %s, naming the field", (field, value, message) => {
    let error: unknown;
    try {
      validateLimits({ [field]: value }, defaults);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ kind: "invalid_argument", field: `limits.${field}` });
    expect((error as Error).message).toMatch(message);
  });

  it("refuses a field that is no limit, and a limits value that is no object", () => {
    expect(() => validateLimits({ memory: 1 }, defaults)).toThrow(/limits\.memory: is not a limit/);
    expect(() => validateLimits(7, defaults)).toThrow(/limits: must be an object/);
  });

  it("checks the limits before the project directory, so a bad limit changes nothing", async () => {
    await expect(
      validateCreateInput({
        name: "n",
        backend: "bubblewrap",
        projectDir: "/nonexistent/dir",
        limits: { max_processes: 1 },
      }),
    ).rejects.toMatchObject({ field: "limits.max_processes" });
  });

  it("takes a request message's uint64 fields; one past 2^53 stays out of range", () => {
    const message = create(ResourceLimitsSchema, { memoryBytes: 2n ** 60n, cpuWeight: 50 });
    const partial = limitsFromMessage(message);
    expect(partial).toEqual({ memory_bytes: 2n ** 60n, cpu_weight: 50 });
    expect(() => validateLimits(partial, defaults)).toThrow(/limits\.memory_bytes: is 1152921504606846976/);
    expect(limitsFromMessage(undefined)).toBeUndefined();
  });
});

describe("the launcher's command line", () => {
  const request = {
    backend: "bubblewrap" as const,
    launcherPath: "/l",
    projectDir: "/p",
    network: true,
    shell: false,
    agentArgs: [],
  };

  it("carries --tmpfs-size when it differs from the launcher's own default, never the cgroup limits", () => {
    const limits = { ...defaultLimits(), tmpfs_bytes: 64 * MIB, memory_bytes: 64 * MIB };
    expect(launcherArgv({ ...request, limits })).toEqual([
      "/l",
      "--new",
      "--die-with-parent",
      "--tmpfs-size",
      String(64 * MIB),
      "/p",
      "--",
    ]);
    expect(launcherArgv({ ...request, limits: defaultLimits() })).toEqual([
      "/l",
      "--new",
      "--die-with-parent",
      "/p",
      "--",
    ]);
    expect(launcherArgv({ ...request, backend: "vm", limits })).toEqual(["/l", "/p", "--"]);
  });
});

describe("the reason of a sandbox the OOM killer ended", () => {
  it("says so first, with the limit, and keeps how the launcher ended", () => {
    const limits = { ...defaultLimits(), memory_bytes: 96 * MIB };
    expect(oomReason(1, limits, "launcher exited with status 137")).toBe(
      "killed by the OOM killer: it reached its memory limit of 96 MiB, and the kernel killed a process in it (launcher exited with status 137)",
    );
    expect(oomReason(3, undefined, "x")).toMatch(
      /its memory limit, and the kernel killed 3 processes in it \(x\)$/,
    );
    expect([formatBytes(8 * GIB), formatBytes(2048), formatBytes(1536)]).toEqual([
      "8 GiB",
      "2 KiB",
      "1536 bytes",
    ]);
  });
});

describe("cpu weight in cgroup v1", () => {
  it("maps v2's default weight to v1's default shares", () => {
    expect(cpuShares(100)).toBe(1024);
    expect(cpuShares(1)).toBe(10);
    expect(cpuShares(10000)).toBe(102400);
  });
});

describe("the Sandbox message", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "limits-usage-"));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const record = (extra: Partial<SandboxRecord>) => sandboxRecord("id", extra);

  it("carries the limits, whether they hold, and the use read from the cgroup files at that moment", () => {
    // cgroup v1 files for memory, v2 for pids: each is read where the limit is held.
    writeFileSync(join(dir, "memory.usage_in_bytes"), "1048576\n");
    writeFileSync(join(dir, "memory.limit_in_bytes"), "536870912\n");
    writeFileSync(join(dir, "pids.current"), "7\n");
    writeFileSync(join(dir, "pids.max"), "64\n");
    const limits = { ...defaultLimits(), memory_bytes: 512 * MIB, max_processes: 64 };
    const r = record({
      limits,
      limits_applied: false,
      limits_note: "swap not limited: …",
      usage_cgroups: { memory: { version: 1, dir }, pids: { version: 2, dir } },
    });
    const message = toSandboxMessage(r, "/sock");
    expect(message.limits).toMatchObject({
      memoryBytes: BigInt(512 * MIB),
      maxProcesses: 64,
      cpuWeight: 100,
    });
    expect(message.limitsApplied).toBe(false);
    expect(message.limitsNote).toBe("swap not limited: …");
    expect(message.usage).toMatchObject({
      memoryCurrentBytes: 1048576n,
      memoryMaxBytes: 536870912n,
      pidsCurrent: 7,
      pidsMax: 64,
    });
    writeFileSync(join(dir, "pids.current"), "9\n");
    expect(toSandboxMessage(r, "/sock").usage?.pidsCurrent).toBe(9);
    // Not running: no use.
    expect(toSandboxMessage({ ...r, status: "dead" }, "/sock").usage).toBeUndefined();
  });

  it("says so for a record from before limits", () => {
    const message = toSandboxMessage(record({}), "/sock");
    expect(message.limits).toBeUndefined();
    expect(message.limitsApplied).toBe(false);
    expect(message.limitsNote).toBe("created before sandboxes had limits");
  });
});
