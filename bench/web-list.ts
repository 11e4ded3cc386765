// GET /api/sandboxes with 1000 sandboxes in the state, against a trivial Express route served beside it by the
// same gateway process, through the same front (Host/Origin guard, peer check, Connect adapter fallback) on the
// same Unix socket. The gateway is built as server/main.ts builds it (createSandboxManager, createApp,
// createWebGateway); the load comes from autocannon in a child process, so the two do not share an event loop.
// Rounds alternate between the two routes; the figures are the medians. Goal: list ≥ 0.3× the trivial route.
// Run: npm run build && node dist/bench/web-list.js [sandboxes=1000] [seconds_per_round=5] [rounds=3]
import { fork } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import express from "express";
import { SandboxService } from "../gen/claude_sandbox/v1/sandbox_service_pb.js";
import type { GatewayFactory } from "../server/http/gateway.js";
import type { SandboxRecord } from "../server/sandbox/types.js";
import { createWebGateway } from "../web/app.js";
import { toSandboxJson } from "../web/sandbox-json.js";
import { type InProcessGateway, startInProcessGateway } from "./in-process-gateway.js";

const LOAD_CHILD = process.argv[2] === "--load";
const SANDBOXES = Number((!LOAD_CHILD && process.argv[2]) || 1000);
const SECONDS = Number((LOAD_CHILD ? process.argv[5] : process.argv[3]) ?? 5);
const ROUNDS = Number((!LOAD_CHILD && process.argv[4]) || 3);
// autocannon parses responses in JavaScript: one thread of it reads about 600 MiB/s of JSON, which a list of
// 1000 sandboxes reaches before the gateway does. More threads take more of the machine's two cores.
const WORKERS = Number(process.env.BENCH_WORKERS ?? 1);
const CONNECTIONS = 10;
const GOAL = 0.3;
const TRIVIAL_PATH = "/bench/trivial";
const LIST_PATH = "/api/sandboxes";
const BYTES_PATH = "/bench/list-bytes";
const UNCACHED_PATH = "/bench/list-uncached";

interface LoadResult {
  path: string;
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  errors: number;
  bytesPerRequest: number;
  /** CPU time of the gateway's process per request (user + system), measured by the parent. */
  serverCpuUs?: number;
}

/** A stopped sandbox as a state.json of this manager holds it, created `i` minutes after the first. */
function stoppedRecord(i: number): SandboxRecord {
  const hex = i.toString(16).padStart(8, "0");
  const id = `${hex}-0000-4000-8000-${hex.padStart(12, "0")}`;
  const created = new Date(Date.UTC(2026, 0, 1) + i * 60_000);
  return {
    id,
    name: `sandbox ${i}`,
    backend: "bubblewrap",
    project_dir: `/home/user/projects/project-${i % 37}`,
    status: "stopped",
    display_num: 7450 + i,
    tmux_session: `sandbox-${hex}`,
    pid_xvfb: null,
    qemu_qmp_socket: null,
    network: i % 2 === 0,
    created_at: created.toISOString(),
    stopped_at: new Date(created.getTime() + 30_000).toISOString(),
    exit_code: null,
    exit_signal: null,
    status_reason: "stopped on request",
    shell: false,
    agent_args: ["--model", "sonnet"],
    xvfb_start_time: null,
    limits: {
      memory_bytes: 8 * 2 ** 30,
      swap_bytes: 0,
      max_processes: 4096,
      cpu_weight: 100,
      tmpfs_bytes: 2 ** 30,
    },
    limits_applied: true,
    limits_note: "",
  };
}

/** The child: one autocannon run against the socket, its figures sent back to the parent. */
async function load(socketPath: string, path: string): Promise<void> {
  const require = createRequire(import.meta.url);
  const autocannon = require("autocannon") as (options: object) => Promise<{
    requests: { average: number; total: number };
    latency: { p50: number; p99: number };
    throughput: { total: number };
    non2xx: number;
    errors: number;
  }>;
  const result = await autocannon({
    url: `http://localhost${path}`,
    socketPath,
    connections: CONNECTIONS,
    duration: SECONDS,
    ...(WORKERS > 1 ? { workers: WORKERS } : {}),
  });
  const figures: LoadResult = {
    path,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    bytesPerRequest: result.requests.total === 0 ? 0 : result.throughput.total / result.requests.total,
  };
  process.send?.(figures);
}

function runLoad(socketPath: string, path: string): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ["--load", socketPath, path, String(SECONDS)], {
      stdio: "inherit",
    });
    child.once("message", (m) => resolve(m as LoadResult));
    child.once("error", reject);
    child.once("exit", (code) => {
      if (code !== 0) reject(new Error(`load generator exited with ${code}`));
    });
  });
}

function get(socketPath: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request({ socketPath, path, headers: { host: "localhost" } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    })
      .on("error", reject)
      .end();
  });
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

async function main(): Promise<void> {
  const stateDir = mkdtempSync(join(tmpdir(), "csm-bench-"));
  const sandboxes: Record<string, SandboxRecord> = {};
  for (let i = 0; i < SANDBOXES; i++) {
    const record = stoppedRecord(i);
    sandboxes[record.id] = record;
  }
  writeFileSync(join(stateDir, "state.json"), JSON.stringify({ schema_version: 1, sandboxes }), {
    mode: 0o600,
  });

  const web = createWebGateway({ log: (line) => console.error(`web: ${line}`) });
  // Beside the gateway's routes: the trivial route, and the list's own bytes sent from memory (what serving
  // this body costs at the least, however the list is made).
  let listBytes = Buffer.alloc(0);
  const beside = express();
  beside.disable("x-powered-by");
  beside.get(TRIVIAL_PATH, (_req, res) => {
    res.json({ ok: true });
  });
  beside.get(BYTES_PATH, (_req, res) => {
    res.setHeader("Content-Type", "application/json; charset=utf-8");
    res.end(listBytes);
  });
  const gateway: GatewayFactory = (rpc, rpcAs) => {
    const inner = web(rpc, rpcAs);
    // The list as the gateway first served it: ListSandboxes and the JSON mapping for every request.
    const reader = createClient(SandboxService, rpc);
    beside.get(UNCACHED_PATH, async (_req, res) => {
      const { sandboxes } = await reader.listSandboxes({});
      res.setHeader("Content-Type", "application/json; charset=utf-8");
      res.end(JSON.stringify(sandboxes.map(toSandboxJson)));
    });
    return {
      handle: (req, res) => (req.url?.startsWith("/bench/") ? beside(req, res) : inner.handle(req, res)),
      upgrade: (req, socket, head) => inner.upgrade(req, socket, head),
      close: () => inner.close(),
    };
  };
  const socketPath = join(stateDir, "api.sock");
  let app: InProcessGateway | undefined;
  try {
    app = await startInProcessGateway({
      stateDir,
      socketPath,
      displayBase: 7450,
      gateway,
      log: (line) => console.error(line),
    });
    const list = await get(socketPath, LIST_PATH);
    const count = (JSON.parse(list.body) as unknown[]).length;
    if (list.status !== 200 || count !== SANDBOXES) {
      throw new Error(`GET ${LIST_PATH} answered ${list.status} with ${count} sandboxes, not ${SANDBOXES}`);
    }
    listBytes = Buffer.from(list.body);
    console.log(
      `GET ${LIST_PATH}: ${SANDBOXES} sandboxes, ${(list.body.length / 1024).toFixed(0)} KiB of JSON; ` +
        `${CONNECTIONS} connections, ${ROUNDS} rounds of ${SECONDS} s per route, alternating`,
    );
    const paths = [TRIVIAL_PATH, BYTES_PATH, LIST_PATH, UNCACHED_PATH];
    // Warm every route up (JIT, the list's cache) before anything is measured.
    for (const path of paths) await runLoad(socketPath, path);
    const results = new Map<string, LoadResult[]>(paths.map((p) => [p, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const path of paths) {
        const cpu = process.cpuUsage();
        const r = await runLoad(socketPath, path);
        const used = process.cpuUsage(cpu);
        r.serverCpuUs = r.requests === 0 ? Number.NaN : (used.user + used.system) / r.requests;
        results.get(path)?.push(r);
        console.log(
          `  round ${round + 1} ${path.padEnd(16)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50} ms  ` +
            `p99 ${r.p99} ms  gateway CPU ${r.serverCpuUs.toFixed(0)} µs/request  ` +
            `(${r.requests} requests, ${r.non2xx} non-2xx, ${r.errors} errors)`,
        );
        if (r.non2xx > 0 || r.errors > 0) throw new Error(`${path}: failed requests`);
      }
    }
    const rps = (path: string) => median((results.get(path) ?? []).map((r) => r.rps));
    const cpu = (path: string) => median((results.get(path) ?? []).map((r) => r.serverCpuUs ?? Number.NaN));
    const ratio = rps(LIST_PATH) / rps(TRIVIAL_PATH);
    console.log(
      `\nmedian req/s: trivial ${rps(TRIVIAL_PATH).toFixed(0)}, the list's bytes from memory ` +
        `${rps(BYTES_PATH).toFixed(0)}, list of ${SANDBOXES} ${rps(LIST_PATH).toFixed(0)} ` +
        `(${((rps(LIST_PATH) * list.body.length) / 2 ** 20) | 0} MiB/s of JSON)`,
    );
    console.log(
      `list / trivial = ${ratio.toFixed(3)}× (goal ≥ ${GOAL}×): ${ratio >= GOAL ? "met" : "NOT met"}`,
    );
    console.log(`list / its bytes from memory = ${(rps(LIST_PATH) / rps(BYTES_PATH)).toFixed(3)}×`);
    console.log(
      `list rebuilt for every request (ListSandboxes + JSON): ${rps(UNCACHED_PATH).toFixed(1)} req/s, ` +
        `${(rps(UNCACHED_PATH) / rps(TRIVIAL_PATH)).toFixed(4)}× trivial, ${(cpu(UNCACHED_PATH) / 1000).toFixed(1)} ms ` +
        "of gateway CPU per request",
    );
    console.log(
      `median gateway CPU per request: trivial ${cpu(TRIVIAL_PATH).toFixed(0)} µs, bytes from memory ` +
        `${cpu(BYTES_PATH).toFixed(0)} µs, list ${cpu(LIST_PATH).toFixed(0)} µs ` +
        `(trivial / list = ${(cpu(TRIVIAL_PATH) / cpu(LIST_PATH)).toFixed(3)}×: the ratio the gateway's own cost allows)`,
    );
  } finally {
    await app?.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

if (LOAD_CHILD) {
  load(process.argv[3] ?? "", process.argv[4] ?? "").then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
} else {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
