// Launch-to-agent-exit of `claude-sandbox` (bubblewrap backend), each against its bare chain measured in the
// same run, interleaved run by run so machine noise hits both sides alike:
//   no network — `claude-sandbox --no-network --new --shell DIR -- -c true`
//                vs `bwrap --unshare-all <minimal mounts> true`                       (goal ≤ 4×)
//   network    — `claude-sandbox --new --shell DIR -- -c true`
//                vs `pasta --config-net --no-map-gw -T none -U none -- bwrap … true`  (goal ≤ 1.3×)
// The network case runs as an unprivileged user: that is pasta's fast path (as root pasta will not create
// namespaces and the launcher has to attach it to a held bwrap instead). The no-network case runs as the
// caller and, when the caller is root, also as that user.
// Prints median and p90 per command and the ratio of medians.
// Run: npm run build && node dist/bench/bwrap-launch.js [runs] [--user NAME]   (as root; default user: nobody)
import { execFileSync, spawn } from "node:child_process";
import { chownSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BARE_BWRAP } from "./bare-bwrap.js";

const args = process.argv.slice(2);
const userFlag = args.indexOf("--user");
const USER = userFlag >= 0 ? (args[userFlag + 1] ?? "nobody") : "nobody";
const RUNS = Number(args.find((a) => /^\d+$/.test(a)) ?? 40);
const WARMUP = 3;
const LAUNCHER = fileURLToPath(new URL("../../launcher/bubblewrap/claude-sandbox", import.meta.url));
const PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";

const BARE_BWRAP_TRUE = [...BARE_BWRAP, "true"];
const BARE_PASTA = [
  "pasta",
  "--config-net",
  "--no-map-gw",
  "-T",
  "none",
  "-U",
  "none",
  "--quiet",
  "--",
  ...BARE_BWRAP_TRUE,
];

interface Who {
  label: string;
  uid: number;
  gid: number;
}

interface Fixture {
  dir: string;
  home: string;
  project: string;
}

function identity(name: string): Who {
  const uid = Number(execFileSync("id", ["-u", name], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", name], { encoding: "utf8" }).trim());
  return { label: name, uid, gid };
}

function fixture(who: Who): Fixture {
  const dir = mkdtempSync(join(tmpdir(), "csbx-bench-"));
  const home = join(dir, "home");
  const project = join(dir, "project");
  mkdirSync(home);
  mkdirSync(project);
  for (const p of [dir, home, project]) chownSync(p, who.uid, who.gid);
  return { dir, home, project };
}

/** Wall time from spawn to exit, in ms; throws if the command fails, so a broken run never counts. */
function timeOnce(argv: string[], who: Who, fx: Fixture): Promise<number> {
  const [file, ...rest] = argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(file, rest, {
      cwd: fx.project,
      env: { PATH, HOME: fx.home, USER: who.label, LANG: "C.UTF-8" },
      stdio: ["ignore", "ignore", "pipe"],
      uid: who.uid,
      gid: who.gid,
    });
    let stderr = "";
    child.stderr?.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      const ms = performance.now() - t0;
      if (code === 0) resolve(ms);
      else reject(new Error(`${argv.join(" ")} failed (${code ?? signal}): ${stderr.trim()}`));
    });
  });
}

function stats(xs: number[]): { median: number; p90: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * (s.length - 1)))] ?? Number.NaN;
  return { median: at(0.5), p90: at(0.9) };
}

/** Runs the pair interleaved in one fixture (so state-dir creation is paid in the warm-up) and prints it. */
async function compare(
  title: string,
  goal: number,
  who: Who,
  bareArgv: (fx: Fixture) => string[],
  sandboxedArgv: (fx: Fixture) => string[],
): Promise<void> {
  const fx = fixture(who);
  try {
    const bare = bareArgv(fx);
    const sandboxed = sandboxedArgv(fx);
    for (let i = 0; i < WARMUP; i++) {
      await timeOnce(bare, who, fx);
      await timeOnce(sandboxed, who, fx);
    }
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      a.push(await timeOnce(bare, who, fx));
      b.push(await timeOnce(sandboxed, who, fx));
    }
    const sa = stats(a);
    const sb = stats(b);
    const ratio = sb.median / sa.median;
    const row = (name: string, s: { median: number; p90: number }) =>
      `  ${name.padEnd(50)} median ${s.median.toFixed(1).padStart(6)} ms   p90 ${s.p90.toFixed(1).padStart(6)} ms`;
    console.log(`${title} (as ${who.label}, ${RUNS} runs each, interleaved)`);
    console.log(
      row(`bare: ${bare.includes("pasta") ? "pasta --config-net --no-map-gw" : "bwrap"} … true`, sa),
    );
    console.log(
      row(`claude-sandbox ${sandboxed.slice(1, sandboxed.indexOf(fx.project)).join(" ")} DIR -- -c true`, sb),
    );
    console.log(`  ratio ${ratio.toFixed(2)}x (goal <= ${goal}x): ${ratio <= goal ? "met" : "MISSED"}\n`);
  } finally {
    rmSync(fx.dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  // Other work on a 2-core machine moves both sides; the ratio is the figure to compare across runs.
  const [l1, l5] = loadavg();
  console.log(`load average ${l1?.toFixed(2)} (1 min) ${l5?.toFixed(2)} (5 min)\n`);
  const uid = process.getuid?.() ?? 0;
  const self: Who = { label: uid === 0 ? "root" : "self", uid, gid: process.getgid?.() ?? 0 };
  const user = uid === 0 ? identity(USER) : self;
  const noNetwork = (fx: Fixture) => [
    LAUNCHER,
    "--no-network",
    "--new",
    "--shell",
    fx.project,
    "--",
    "-c",
    "true",
  ];
  const network = (fx: Fixture) => [LAUNCHER, "--new", "--shell", fx.project, "--", "-c", "true"];
  for (const who of uid === 0 ? [self, user] : [self])
    await compare("no network", 4, who, () => BARE_BWRAP_TRUE, noNetwork);
  await compare("network", 1.3, user, () => BARE_PASTA, network);
  if (uid === 0) {
    // Root cannot use pasta's own namespaces, so its network path (bwrap held on --block-fd, pasta attached)
    // has no bare chain of the same shape; print it against the user's pasta chain for scale.
    await compare(
      "network as root (attach path; baseline: the user's bare pasta chain)",
      1.3,
      self,
      () => BARE_PASTA_AS_USER(user),
      network,
    );
  }
}

/** The bare pasta chain run as `user` through setpriv, so root can time it next to its own launch. */
function BARE_PASTA_AS_USER(user: Who): string[] {
  return ["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", ...BARE_PASTA];
}

main().catch((error: unknown) => {
  process.stderr.write(`bwrap-launch: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
