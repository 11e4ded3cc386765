// What the daemon adds on top of the work itself:
//   1. Unary round trips (GetSandbox of a running sandbox) over every protocol the daemon serves, against a
//      bare Node HTTP/1.1 server in its own process answering a fixed JSON body: the floor of one request
//      between two Node processes on this machine.
//      Also over a fresh Unix socket connection per call: what accepting a connection costs, the peer
//      credential check included.
//   2. CreateSandbox→running through the daemon (client in this process, daemon in its own), against
//      manager.create() called in-process on another state directory, alternating, in the same run.
// Prints p50/p99 of each and the ratios to the baselines.
// Run: npm run build && node dist/bench/daemon-rpc.js [unary_calls=2000] [creates=10]
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Client, createClient, type Interceptor } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { createSandboxClient } from "../client/index.js";
import { Backend, SandboxService } from "../gen/claude_sandbox/v1/sandbox_service_pb.js";
import { createSandboxManager } from "../server/sandbox/manager.js";

const UNARY_CALLS = Number(process.argv[2] ?? 2000);
const CREATES = Number(process.argv[3] ?? 10);
const WARMUP = 50;
const root = fileURLToPath(new URL("../../", import.meta.url));
const fixtureBin = join(root, "test/fixtures/bin-api");
const PATH = `${fixtureBin}:${process.env.PATH ?? "/usr/bin:/bin"}`;

interface Figures {
  name: string;
  p50: number;
  p99: number;
}

function figures(name: string, samples: number[]): Figures {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN;
  return { name, p50: at(0.5), p99: at(0.99) };
}

function print(title: string, baseline: Figures, rows: Figures[]): void {
  console.log(`\n${title}`);
  console.log(`  ${"".padEnd(54)} ${"p50 ms".padStart(9)} ${"p99 ms".padStart(9)} ${"p50 ×".padStart(7)}`);
  for (const f of [baseline, ...rows]) {
    const ratio = f === baseline ? "1.00" : (f.p50 / baseline.p50).toFixed(2);
    console.log(
      `  ${f.name.padEnd(54)} ${f.p50.toFixed(3).padStart(9)} ${f.p99.toFixed(3).padStart(9)} ${ratio.padStart(7)}`,
    );
  }
}

async function time(fn: () => Promise<unknown>, count: number): Promise<number[]> {
  for (let i = 0; i < WARMUP; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = process.hrtime.bigint();
    await fn();
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return samples;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen({ host: "127.0.0.1", port: 0 }, () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
    });
  });
}

async function startChild(args: string[], env: NodeJS.ProcessEnv, ready: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, { env, stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (c: string) => {
    err += c;
  });
  while (!err.includes(ready)) {
    if (child.exitCode !== null) throw new Error(`child exited: ${err}`);
    await Promise.race([once(child.stderr ?? child, "data"), once(child, "exit")]);
  }
  return child;
}

// A bare HTTP/1.1 server: reads the body, answers a fixed JSON document of a sandbox's size.
const BARE_SERVER = `
const body = JSON.stringify({ sandbox: { id: "x".repeat(36), name: "bench", projectDir: "/tmp/p".repeat(4) } });
require("node:http").createServer((req, res) => {
  req.resume();
  req.on("end", () => { res.writeHead(200, { "content-type": "application/json" }); res.end(body); });
}).listen(Number(process.argv[1]), "127.0.0.1", () => console.error("listening"));
`;

function barePost(port: number, agent: Agent): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/",
        agent,
        headers: { "content-type": "application/json" },
      },
      (res) => {
        res.resume();
        res.on("end", resolve);
      },
    );
    req.on("error", reject);
    req.end('{"id":"x"}');
  });
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "bench-rpc-"));
  const children: ChildProcess[] = [];
  const stateDirs = [join(work, "daemon"), join(work, "inproc")];
  try {
    const barePort = await freePort();
    children.push(await startChild(["-e", BARE_SERVER, String(barePort)], process.env, "listening"));
    const daemonPort = await freePort();
    const socketPath = join(work, "api.sock");
    // The TCP listener takes only requests carrying its token.
    const token = randomBytes(32).toString("base64url");
    const tokenFile = join(work, "token");
    writeFileSync(tokenFile, token, { mode: 0o600 });
    const withToken: Interceptor = (next) => (req) => {
      req.header.set("authorization", `Bearer ${token}`);
      return next(req);
    };
    const interceptors = [withToken];
    const daemonEnv = {
      ...process.env,
      PATH,
      MANAGER_STATE_DIR: stateDirs[0],
      MANAGER_LISTEN: `127.0.0.1:${daemonPort}`,
      MANAGER_TOKEN_FILE: tokenFile,
    };
    children.push(await startChild([join(root, "dist/server/main.js")], daemonEnv, "listening on "));
    // A second daemon would need its own state directory; the Unix socket numbers come from a daemon of its own.
    const unixState = join(work, "daemon-unix");
    stateDirs.push(unixState);
    children.push(
      await startChild(
        [join(root, "dist/server/main.js")],
        { ...process.env, PATH, MANAGER_STATE_DIR: unixState, MANAGER_LISTEN: `unix:${socketPath}` },
        "listening on ",
      ),
    );
    const project = join(work, "project");
    mkdirSync(project);
    const baseUrl = `http://127.0.0.1:${daemonPort}`;
    const tcp = createSandboxClient({ baseUrl, token });
    const unix = createSandboxClient({ socketPath });
    const unixFresh = createClient(
      SandboxService,
      createConnectTransport({
        baseUrl: "http://localhost",
        httpVersion: "1.1",
        nodeOptions: { socketPath, agent: new Agent({ keepAlive: false }) },
      }),
    );
    const { sandbox } = await tcp.createSandbox({
      name: "bench",
      backend: Backend.BUBBLEWRAP,
      projectDir: project,
    });
    const unixSandbox = (
      await unix.createSandbox({ name: "bench", backend: Backend.BUBBLEWRAP, projectDir: project })
    ).sandbox;
    const id = sandbox?.id ?? "";
    const grpcTransport = createGrpcTransport({ baseUrl, interceptors });
    const clients: [string, Client<typeof SandboxService>, string][] = [
      ["Connect binary, HTTP/1.1, TCP", tcp, id],
      ["Connect binary, HTTP/1.1, unix", unix, unixSandbox?.id ?? ""],
      ["Connect binary, HTTP/1.1, unix, new conn.", unixFresh, unixSandbox?.id ?? ""],
      [
        "Connect JSON, HTTP/1.1, TCP",
        createClient(
          SandboxService,
          createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false, interceptors }),
        ),
        id,
      ],
      [
        "gRPC-Web, HTTP/1.1, TCP",
        createClient(SandboxService, createGrpcWebTransport({ baseUrl, httpVersion: "1.1", interceptors })),
        id,
      ],
      ["gRPC, h2c, TCP", createClient(SandboxService, grpcTransport), id],
      [
        "Connect binary, h2c, TCP",
        createClient(SandboxService, createConnectTransport({ baseUrl, httpVersion: "2", interceptors })),
        id,
      ],
    ];

    const agent = new Agent({ keepAlive: true });
    const bare = figures(
      "bare node http server (baseline)",
      await time(() => barePost(barePort, agent), UNARY_CALLS),
    );
    const rows: Figures[] = [];
    for (const [name, client, sandboxId] of clients) {
      rows.push(
        figures(`GetSandbox: ${name}`, await time(() => client.getSandbox({ id: sandboxId }), UNARY_CALLS)),
      );
    }
    print(`Unary round trip, ${UNARY_CALLS} calls each (after ${WARMUP} warm-up calls)`, bare, rows);

    const manager = await createSandboxManager({
      stateDir: stateDirs[1] as string,
      launchers: {
        bubblewrap: "claude-sandbox",
        container: "claude-sandbox-container",
        vm: "claude-sandbox-vm",
      },
      screen: "1920x1080x24",
      displayBase: 50,
      path: PATH,
    });
    const inProcess: number[] = [];
    const viaDaemon: number[] = [];
    for (let i = 0; i < CREATES + 1; i++) {
      let start = process.hrtime.bigint();
      const local = await manager.create({ name: `c${i}`, backend: "bubblewrap", projectDir: project });
      const localMs = Number(process.hrtime.bigint() - start) / 1e6;
      start = process.hrtime.bigint();
      const remote = (
        await tcp.createSandbox({ name: `c${i}`, backend: Backend.BUBBLEWRAP, projectDir: project })
      ).sandbox;
      const remoteMs = Number(process.hrtime.bigint() - start) / 1e6;
      if (i > 0) {
        inProcess.push(localMs);
        viaDaemon.push(remoteMs);
      }
      await manager.delete(local.id);
      await tcp.deleteSandbox({ id: remote?.id ?? "" });
    }
    await manager.close();
    print(
      `Create→running, ${CREATES} creates each, alternating (fixture launcher, real Xvfb + tmux)`,
      figures("manager.create() in-process (baseline)", inProcess),
      [figures("CreateSandbox through the daemon", viaDaemon)],
    );
    // Sandboxes outlive their manager by design: delete them so nothing is left running.
    await tcp.deleteSandbox({ id });
    await unix.deleteSandbox({ id: unixSandbox?.id ?? "" });
  } finally {
    for (const child of children) child.kill("SIGTERM");
    await Promise.all(children.map((c) => (c.exitCode === null ? once(c, "exit") : undefined)));
    for (const dir of stateDirs) {
      try {
        execFileSync("tmux", ["-S", join(dir, "tmux.sock"), "kill-server"], { stdio: "ignore" });
      } catch {
        // no server left
      }
    }
    rmSync(work, { recursive: true, force: true });
  }
  process.exit(0);
}

await main();
