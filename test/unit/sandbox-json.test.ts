// The REST API's sandbox JSON: the seed's documented field names and lowercase values, with this manager's
// additions beside them. Clients written against the seed (the claude-remote CLI's jq filters) read these names.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import {
  Backend,
  GetSandboxMetricsResponseSchema,
  GetSystemMetricsResponseSchema,
  SandboxSchema,
  SandboxStatus,
} from "../../client/index.js";
import { toClaudeMetricsJson, toSystemMetricsJson } from "../../web/metrics-json.js";
import { BACKEND_NAMES, toSandboxJson } from "../../web/sandbox-json.js";
import { SEED_CLAUDE_METRICS_FIELDS, SEED_SANDBOX_FIELDS } from "../helpers/seed-shapes.js";

const ID = "a1b2c3d4-0000-4000-8000-000000000001";

function runningSandbox() {
  return create(SandboxSchema, {
    id: ID,
    name: "my-project",
    backend: Backend.BUBBLEWRAP,
    projectDir: "/home/user/project",
    status: SandboxStatus.RUNNING,
    displayNum: 50,
    tmuxSession: "sandbox-a1b2c3d4",
    pidXvfb: 12345,
    network: true,
    createdAt: timestampFromDate(new Date("2025-01-15T10:30:00Z")),
    statusReason: "running",
    agentArgs: ["--model", "two words"],
    tmuxSocket: "/var/lib/claude-sandbox/tmux.sock",
    limits: {
      memoryBytes: 8n * 2n ** 30n,
      swapBytes: 0n,
      maxProcesses: 4096,
      cpuWeight: 100,
      tmpfsBytes: 2n ** 30n,
    },
    limitsApplied: true,
    usage: { memoryCurrentBytes: 1048576n, pidsCurrent: 7 },
  });
}

describe("toSandboxJson", () => {
  it("writes a running sandbox in the seed's shape, its fields first and in its order, then the additions", () => {
    const json = toSandboxJson(runningSandbox());
    expect(Object.keys(json).slice(0, SEED_SANDBOX_FIELDS.length)).toEqual(SEED_SANDBOX_FIELDS);
    expect(JSON.parse(JSON.stringify(json))).toEqual({
      id: ID,
      name: "my-project",
      backend: "bubblewrap",
      project_dir: "/home/user/project",
      status: "running",
      display_num: 50,
      tmux_session: "sandbox-a1b2c3d4",
      pid_xvfb: 12345,
      qemu_qmp_socket: null,
      network: true,
      created_at: "2025-01-15T10:30:00.000Z",
      stopped_at: null,
      exit_code: null,
      exit_signal: null,
      status_reason: "running",
      shell: false,
      agent_args: ["--model", "two words"],
      tmux_socket: "/var/lib/claude-sandbox/tmux.sock",
      limits: {
        memory_bytes: 8589934592,
        swap_bytes: 0,
        max_processes: 4096,
        cpu_weight: 100,
        tmpfs_bytes: 1073741824,
      },
      limits_applied: true,
      limits_note: "",
      usage: { memory_current_bytes: 1048576, memory_max_bytes: null, pids_current: 7, pids_max: null },
    });
  });

  it("writes what a stopped or dead sandbox no longer has as null, and why it ended", () => {
    const dead = create(SandboxSchema, {
      ...runningSandbox(),
      status: SandboxStatus.DEAD,
      pidXvfb: undefined,
      stoppedAt: timestampFromDate(new Date("2025-01-15T11:00:00.250Z")),
      exitCode: 3,
      statusReason: "launcher exited with status 3",
      usage: undefined,
      limits: undefined,
      limitsApplied: false,
      limitsNote: "created before sandboxes had limits",
    });
    expect(toSandboxJson(dead)).toMatchObject({
      status: "dead",
      pid_xvfb: null,
      stopped_at: "2025-01-15T11:00:00.250Z",
      exit_code: 3,
      exit_signal: null,
      status_reason: "launcher exited with status 3",
      limits: null,
      limits_applied: false,
      limits_note: "created before sandboxes had limits",
      usage: null,
    });
    const killed = create(SandboxSchema, { ...dead, exitCode: undefined, exitSignal: "SIGKILL" });
    expect(toSandboxJson(killed)).toMatchObject({ exit_code: null, exit_signal: "SIGKILL" });
  });

  it("spells every status and backend in lowercase, the names a create request takes", () => {
    const status = (s: SandboxStatus) => toSandboxJson(create(SandboxSchema, { status: s })).status;
    expect([SandboxStatus.RUNNING, SandboxStatus.STOPPED, SandboxStatus.DEAD].map(status)).toEqual([
      "running",
      "stopped",
      "dead",
    ]);
    for (const [name, backend] of Object.entries(BACKEND_NAMES)) {
      expect(toSandboxJson(create(SandboxSchema, { backend })).backend).toBe(name);
    }
    expect(Object.keys(BACKEND_NAMES)).toEqual(["bubblewrap", "container", "vm"]);
  });

  it("writes a VM's QMP socket and no display, as the seed's VM records were", () => {
    const vm = create(SandboxSchema, {
      ...runningSandbox(),
      backend: Backend.VM,
      displayNum: undefined,
      pidXvfb: undefined,
      qemuQmpSocket: "/run/claude-sandbox/qmp-a1b2c3d4.sock",
    });
    expect(toSandboxJson(vm)).toMatchObject({
      backend: "vm",
      display_num: null,
      pid_xvfb: null,
      qemu_qmp_socket: "/run/claude-sandbox/qmp-a1b2c3d4.sock",
    });
  });

  it("does not share the message's argument list", () => {
    const message = runningSandbox();
    const json = toSandboxJson(message);
    json.agent_args.push("extra");
    expect(message.agentArgs).toEqual(["--model", "two words"]);
  });
});

describe("the metrics JSON", () => {
  it("writes Claude metrics with the seed's names as plain numbers", () => {
    const json = toClaudeMetricsJson(
      create(GetSandboxMetricsResponseSchema, {
        inputTokens: 1200n,
        outputTokens: 340n,
        cacheCreationTokens: 5n,
        cacheReadTokens: 9_000_000_000n,
        messageCount: 3n,
        toolUseCount: 12n,
      }),
    );
    const parsed = JSON.parse(JSON.stringify(json));
    // The seed's fields first, in its order, as plain numbers; the breakdowns follow.
    expect(Object.keys(parsed).slice(0, SEED_CLAUDE_METRICS_FIELDS.length)).toEqual(
      SEED_CLAUDE_METRICS_FIELDS,
    );
    expect(parsed).toMatchObject({
      input_tokens: 1200,
      output_tokens: 340,
      cache_creation_tokens: 5,
      cache_read_tokens: 9_000_000_000,
      message_count: 3,
      tool_use_count: 12,
    });
  });

  it("writes system metrics with the seed's names, the CPU share at its own precision", () => {
    const json = toSystemMetricsJson(
      create(GetSystemMetricsResponseSchema, {
        cpuUsage: Math.fround(12.3),
        memoryUsed: 3n * 2n ** 30n,
        memoryTotal: 24n * 2n ** 30n,
        diskUsed: 10n ** 11n,
        diskTotal: 10n ** 12n,
        netRxBytes: 123n,
        netTxBytes: 456n,
        loadAverage: [0.5, 0.25, 0.125],
        cpuCount: 2,
        uptimeSeconds: 3600.5,
        sampledAt: timestampFromDate(new Date("2026-12-04T20:00:00.000Z")),
        sandboxes: [
          { id: "abc", cpuPercent: Math.fround(99.7), memoryBytes: 52428800n },
          { id: "def", memoryBytes: 4096n },
        ],
      }),
    );
    expect(JSON.parse(JSON.stringify(json))).toEqual({
      cpu_usage: 12.3,
      memory_used: 3221225472,
      memory_total: 25769803776,
      disk_used: 100000000000,
      disk_total: 1000000000000,
      net_rx_bytes: 123,
      net_tx_bytes: 456,
      load_average: [0.5, 0.25, 0.125],
      cpu_count: 2,
      uptime_seconds: 3600.5,
      sampled_at: "2026-12-04T20:00:00.000Z",
      sandboxes: [
        { id: "abc", cpu_percent: 99.7, memory_bytes: 52428800 },
        { id: "def", cpu_percent: null, memory_bytes: 4096 },
      ],
    });
  });
});
