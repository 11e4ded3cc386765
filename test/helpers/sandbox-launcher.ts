import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { execa, type Result } from "execa";
import type { SandboxFixture } from "./sandbox-home.js";
import { userCommand } from "./sandbox-user.js";

// The waits live in ./wait.ts; the launcher tests' name for the boolean one stays importable from here.
export { holdsWithin as waitFor } from "./wait.js";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
/**
 * The launcher under test, run by its repo path as the CLI contract says. CLAUDE_SANDBOX_TEST_LAUNCHER points the
 * tests at another copy (an older commit's, to show that an attack test fails without its fix).
 */
export const LAUNCHER =
  process.env.CLAUDE_SANDBOX_TEST_LAUNCHER || path.join(REPO, "launcher", "bubblewrap", "claude-sandbox");

const HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface LaunchOptions {
  /** Variables added to (or, with undefined, removed from) the base environment. */
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  input?: string;
}

/**
 * The environment a user's shell would hand the launcher: the essentials plus secrets that must not cross into
 * the sandbox (AWS_SECRET_ACCESS_KEY, another unlisted variable, GH_TOKEN which only --gh-token may pass).
 */
export function launcherEnv(fx: SandboxFixture, extra: LaunchOptions["env"] = {}): Record<string, string> {
  const env: Record<string, string | undefined> = {
    PATH: HOST_PATH,
    HOME: fx.home,
    USER: fx.owner.name,
    LOGNAME: fx.owner.name,
    LANG: "C.UTF-8",
    TERM: "xterm-256color",
    AWS_SECRET_ACCESS_KEY: fx.envSecret,
    ESCAPE_TEST_PRIVATE: fx.envSecret,
    GH_TOKEN: fx.ghToken,
    GITHUB_TOKEN: fx.ghToken,
    ...extra,
  };
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

/** Runs `claude-sandbox ARGS` as the fixture's owner; never throws on a non-zero exit. */
export async function runLauncher(
  fx: SandboxFixture,
  args: string[],
  opts: LaunchOptions = {},
): Promise<Result<{ reject: false }>> {
  const [file, argv] = userCommand(fx.owner, LAUNCHER, args);
  return execa(file, argv, {
    env: launcherEnv(fx, opts.env),
    extendEnv: false,
    cwd: fx.project,
    reject: false,
    timeout: opts.timeoutMs ?? 45_000,
    input: opts.input ?? "",
    stripFinalNewline: false,
    // The sandbox may outlive a timed-out launcher; killStragglers() in afterEach ends what is left.
    forceKillAfterDelay: 2_000,
  });
}

/** Everything a failed assertion should show about a launcher run. */
export function describeRun(r: Result<{ reject: false }>): string {
  return `exit=${r.exitCode} signal=${r.signal ?? "-"} timedOut=${r.timedOut}\n--- stdout\n${String(r.stdout)}\n--- stderr\n${String(r.stderr)}`;
}

async function cmdlineOf(pid: string): Promise<string> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, "latin1")).replaceAll("\0", " ");
  } catch {
    return "";
  }
}

/** Host pids whose command line mentions `needle` (a fixture's temp root): the sandboxes a test started. */
export async function findProcesses(needle: string): Promise<{ pid: number; cmdline: string }[]> {
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await cmdlineOf(entry);
    if (cmdline.includes(needle)) found.push({ pid: Number(entry), cmdline });
  }
  return found;
}

/** SIGKILLs whatever a test's sandboxes left behind, so one failing test cannot leak into the next. */
export async function killStragglers(needle: string): Promise<void> {
  for (const { pid } of await findProcesses(needle)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/**
 * A PATH for a host that lacks some tools: a dir of symlinks to everything in /usr/bin and /usr/sbin except
 * `missing`. Used to check that the launcher fails closed (refuses, or goes without) rather than open.
 */
/** A PATH directory under `dir` holding only `tools` (those found on this PATH), for a machine that lacks the rest. */
export async function pathWith(dir: string, tools: string[]): Promise<string> {
  const { mkdir, symlink } = await import("node:fs/promises");
  const { execa } = await import("execa");
  const bin = path.join(dir, "bin");
  await mkdir(bin, { recursive: true });
  for (const tool of tools) {
    const { stdout } = await execa("bash", ["-c", 'command -v "$1"', "bash", tool], { reject: false });
    if (stdout) await symlink(stdout.trim(), path.join(bin, tool));
  }
  return bin;
}

export async function pathWithout(dir: string, missing: string[]): Promise<string> {
  const { mkdir, readdir, symlink } = await import("node:fs/promises");
  const bin = path.join(dir, `path-without-${missing.join("-")}`);
  await mkdir(bin, { recursive: true });
  for (const from of ["/usr/sbin", "/usr/bin"]) {
    for (const tool of await readdir(from)) {
      if (missing.includes(tool)) continue;
      await symlink(path.join(from, tool), path.join(bin, tool)).catch(() => undefined);
    }
  }
  return bin;
}
