// What a big list costs the dashboard: GET / (the index page) with 100 sandboxes in the state against the same
// page with none, each through the whole gateway as the daemon mounts it (createApp + createWebGateway, as in
// server/main.ts), over a keep-alive Unix socket connection, requests alternating between the two so both see
// the same noise. Also GET /fragments/sandbox-list (the list alone, what each live update renders). Both with
// Express's view cache off (the default outside NODE_ENV=production: templates are read and compiled on every
// render) and on.
// Prints p50/p99 per request and the ratios to the empty list.
// Run: npm run build && node dist/bench/web-render.js [requests=400]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SandboxRecord } from "../server/sandbox/types.js";
import { createWebGateway } from "../web/app.js";
import { type InProcessGateway, startInProcessGateway } from "./in-process-gateway.js";

const REQUESTS = Number(process.argv[2] ?? 400);
const WARMUP = 40;
const SANDBOXES = 100;

function records(count: number): Record<string, SandboxRecord> {
  const out: Record<string, SandboxRecord> = {};
  const start = Date.parse("2026-11-01T08:00:00.000Z");
  for (let i = 0; i < count; i++) {
    const id = `${i.toString(16).padStart(8, "0")}-7e57-4000-8000-${i.toString(16).padStart(12, "0")}`;
    const dead = i % 3 === 0;
    out[id] = {
      id,
      name: `agent <${i}> & "refactor" #${i}`,
      backend: "bubblewrap",
      project_dir: `/home/dev/src/project-${i}/with/a/longer/path`,
      // Not running: the manager would find these fake sandboxes gone and rewrite them as dead anyway.
      status: dead ? "dead" : "stopped",
      display_num: null,
      tmux_session: `sandbox-${id.slice(0, 8)}`,
      pid_xvfb: null,
      qemu_qmp_socket: null,
      network: i % 2 === 0,
      created_at: new Date(start + i * 60_000).toISOString(),
      stopped_at: new Date(start + i * 60_000 + 30_000).toISOString(),
      exit_code: dead ? 3 : null,
      exit_signal: null,
      status_reason: dead ? "the launcher exited with status 3" : "stopped on request",
      shell: i % 5 === 0,
      agent_args: [],
      xvfb_start_time: null,
      limits: {
        memory_bytes: 8 * 1024 ** 3,
        swap_bytes: 0,
        max_processes: 4096,
        cpu_weight: 100,
        tmpfs_bytes: 1024 ** 3,
      },
      limits_applied: true,
      limits_note: "",
    };
  }
  return out;
}

function serve(stateDir: string, socket: string, viewCache: boolean): Promise<InProcessGateway> {
  const web = createWebGateway({ log: (line) => process.stderr.write(`web: ${line}\n`) });
  return startInProcessGateway({
    stateDir,
    socketPath: socket,
    displayBase: 7590,
    path: process.env.PATH ?? "/usr/bin:/bin",
    log: () => {},
    // Express decides its view cache from NODE_ENV when the app is made (by the gateway factory, inside createApp).
    gateway: (rpc, rpcAs) => {
      const env = process.env.NODE_ENV;
      process.env.NODE_ENV = viewCache ? "production" : "development";
      try {
        return web(rpc, rpcAs);
      } finally {
        if (env === undefined) delete process.env.NODE_ENV;
        else process.env.NODE_ENV = env;
      }
    },
  });
}

function get(agent: Agent, socket: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ agent, socketPath: socket, path, headers: { host: "localhost" } }, (res) => {
      let bytes = 0;
      res.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
      });
      res.on("end", () =>
        res.statusCode === 200 ? resolve(bytes) : reject(new Error(`${path}: HTTP ${res.statusCode}`)),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

interface Target {
  name: string;
  agent: Agent;
  socket: string;
  path: string;
  samples: number[];
  bytes: number;
}

function at(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN;
}

async function measure(targets: Target[]): Promise<void> {
  for (let i = 0; i < WARMUP + REQUESTS; i++) {
    for (const target of targets) {
      const start = process.hrtime.bigint();
      target.bytes = await get(target.agent, target.socket, target.path);
      if (i >= WARMUP) target.samples.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
  }
}

function print(title: string, baseline: Target, rows: Target[]): void {
  const p50 = (t: Target) =>
    at(
      [...t.samples].sort((a, b) => a - b),
      0.5,
    );
  const p99 = (t: Target) =>
    at(
      [...t.samples].sort((a, b) => a - b),
      0.99,
    );
  console.log(`\n${title}`);
  console.log(
    `  ${"".padEnd(44)} ${"bytes".padStart(8)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)} ${"p50 ×".padStart(7)}`,
  );
  for (const t of [baseline, ...rows]) {
    const ratio = t === baseline ? "1.00" : (p50(t) / p50(baseline)).toFixed(2);
    console.log(
      `  ${t.name.padEnd(44)} ${String(t.bytes).padStart(8)} ${p50(t).toFixed(3).padStart(8)} ${p99(t).toFixed(3).padStart(8)} ${ratio.padStart(7)}`,
    );
  }
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "web-render-"));
  const full = join(root, "full");
  const empty = join(root, "empty");
  const served: InProcessGateway[] = [];
  try {
    for (const dir of [full, empty]) mkdirSync(dir, { mode: 0o700 });
    writeFileSync(
      join(full, "state.json"),
      `${JSON.stringify({ schema_version: 1, sandboxes: records(SANDBOXES) }, null, 2)}\n`,
    );
    for (const viewCache of [false, true]) {
      const fullApp = await serve(full, join(root, `full-${viewCache}.sock`), viewCache);
      const emptyApp = await serve(empty, join(root, `empty-${viewCache}.sock`), viewCache);
      served.push(fullApp, emptyApp);
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const target = (name: string, app: InProcessGateway, path: string): Target => ({
        name,
        agent,
        socket: app.socketPath,
        path,
        samples: [],
        bytes: 0,
      });
      const emptyIndex = target("GET /, no sandboxes (baseline)", emptyApp, "/");
      const fullIndex = target(`GET /, ${SANDBOXES} sandboxes`, fullApp, "/");
      const emptyList = target("GET /fragments/sandbox-list, none", emptyApp, "/fragments/sandbox-list");
      const fullList = target(
        `GET /fragments/sandbox-list, ${SANDBOXES}`,
        fullApp,
        "/fragments/sandbox-list",
      );
      await measure([emptyIndex, fullIndex, emptyList, fullList]);
      print(
        `Index page, view cache ${viewCache ? "on" : "off"}: ${REQUESTS} requests each, alternating, after ${WARMUP} warm-up`,
        emptyIndex,
        [fullIndex, emptyList, fullList],
      );
      agent.destroy();
      // One manager per state directory at a time: it holds the directory's lock.
      for (const app of served.splice(0)) await app.close();
    }
  } finally {
    for (const app of served) await app.close();
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
