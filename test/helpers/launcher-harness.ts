import { createHash } from "node:crypto";
import { chmod, chown, copyFile, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { execa, type Result } from "execa";
import { findProcesses, killStragglers, LAUNCHER, REPO } from "./sandbox-launcher.js";
import { ensureTestUser, ROOT, type SandboxUser, userCommand } from "./sandbox-user.js";
import { type Fixtures, type FixturesOptions, useFixtures } from "./use-fixtures.js";
import { holdsWithin } from "./wait.js";

/** Both identities the launcher must work for: root (a manager, CI) and an ordinary user. */
export const IDENTITIES: [string, () => SandboxUser][] = [
  ["root", () => ROOT],
  ["unprivileged user", ensureTestUser],
];

export const HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
export const FIXTURE_AGENT = path.join(REPO, "test", "fixtures", "agent", "claude");

/** A temp HOME, XDG_STATE_HOME and project dir owned by one user; nothing outside it is touched. */
export interface LauncherFixture {
  root: string;
  home: string;
  stateHome: string;
  project: string;
  user: SandboxUser;
  /** The per-project state dir the launcher derives for `project`. */
  state: string;
  cleanup(): Promise<void>;
}

export type Run = Result<{ reject: false }>;

export async function createLauncherFixture(
  user: SandboxUser,
  projectName = "project",
): Promise<LauncherFixture> {
  const root = await mkdtemp("/tmp/csbx-launch-");
  // The test user must be able to reach its own dirs under root's mkdtemp.
  await chmod(root, 0o755);
  const home = path.join(root, "home");
  const stateHome = path.join(root, "state");
  const project = path.join(root, projectName);
  for (const d of [home, stateHome, project]) {
    await mkdir(d);
    await chown(d, user.uid, user.gid);
  }
  const state = stateDirFor(stateHome, project);
  return {
    root,
    home,
    stateHome,
    project,
    user,
    state,
    cleanup: async () => {
      await killStragglers(root);
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** Hands out launcher fixtures, each removed after the test that made it. */
export function useLauncherFixture(
  options: FixturesOptions<LauncherFixture> = {},
): Fixtures<Parameters<typeof createLauncherFixture>, LauncherFixture> {
  return useFixtures(createLauncherFixture, (fx) => fx.cleanup(), options);
}

/** <state home>/claude-sandbox/projects/<basename>-<12 hex of sha256(path + "\n")>, as the seed. */
export function stateDirFor(stateHome: string, project: string): string {
  const hash = createHash("sha256").update(`${project}\n`).digest("hex").slice(0, 12);
  const base = path.basename(project).replace(/[^A-Za-z0-9._-]/g, "-");
  return path.join(stateHome, "claude-sandbox", "projects", `${base}-${hash}`);
}

export interface LaunchOptions {
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  input?: string;
}

export function launcherEnv(fx: LauncherFixture, extra: LaunchOptions["env"] = {}): Record<string, string> {
  const env: Record<string, string | undefined> = {
    PATH: HOST_PATH,
    HOME: fx.home,
    XDG_STATE_HOME: fx.stateHome,
    USER: fx.user.name,
    LANG: "C.UTF-8",
    TERM: "xterm-256color",
    ...extra,
  };
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

/** Runs `claude-sandbox ARGS` as the fixture's user from the project dir; never throws on a non-zero exit. */
export function launch(fx: LauncherFixture, args: string[], opts: LaunchOptions = {}) {
  const [file, argv] = userCommand(fx.user, LAUNCHER, args);
  return execa(file, argv, {
    env: launcherEnv(fx, opts.env),
    extendEnv: false,
    cwd: fx.project,
    reject: false,
    timeout: opts.timeoutMs ?? 30_000,
    input: opts.input ?? "",
    stripFinalNewline: false,
    forceKillAfterDelay: 2_000,
  });
}

/**
 * Runs `bash -c SCRIPT` in a sandbox started with `flags` (default: a new, unregistered one without network) and
 * `--shell`, the way most launcher tests look at what a sandbox sees.
 */
export function inSandbox(
  fx: LauncherFixture,
  script: string,
  { flags = ["--new", "--no-network"], ...opts }: LaunchOptions & { flags?: string[] } = {},
) {
  return launch(fx, [...flags, "--shell", fx.project, "--", "-c", script], opts);
}

export function describeRun(r: Run): string {
  return `exit=${r.exitCode} signal=${r.signal ?? "-"} timedOut=${r.timedOut}\n--- stdout\n${String(r.stdout)}\n--- stderr\n${String(r.stderr)}`;
}

/** Copies the fixture agent to `dest` (creating its dir), owned by the fixture's user. */
export async function installAgent(fx: LauncherFixture, dest: string): Promise<void> {
  await mkdir(path.dirname(dest), { recursive: true });
  await copyFile(FIXTURE_AGENT, dest);
  await chmod(dest, 0o755);
  let p = dest;
  while (p.startsWith(fx.root) && p !== fx.root) {
    await chown(p, fx.user.uid, fx.user.gid);
    p = path.dirname(p);
  }
}

/** What the fixture agent recorded about its last start. */
export async function agentRecord(
  fx: LauncherFixture,
): Promise<{ argv: string[]; env: Map<string, string> }> {
  const dir = path.join(fx.project, ".agent-run");
  const argv = (await readFile(path.join(dir, "argv"), "utf8")).split("\0").slice(0, -1);
  const env = new Map<string, string>();
  for (const entry of (await readFile(path.join(dir, "env"), "utf8")).split("\0")) {
    const eq = entry.indexOf("=");
    if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return { argv, env };
}

/** Starts a long-lived sandbox (shell running `sleep`) and waits until it is registered and running. */
export async function startLive(fx: LauncherFixture, extraArgs: string[] = [], opts: LaunchOptions = {}) {
  const marker = `${300 + Math.floor(Math.random() * 1000)}.${Date.now() % 100_000}`;
  // An earlier, finished sandbox of this project leaves its (stale) registry behind: wait for a new one.
  const registry = path.join(fx.state, "ns");
  const before = await readFile(registry, "utf8").catch(() => "");
  const live = launch(fx, [...extraArgs, "--shell", fx.project, "--", "-c", `sleep ${marker}`], {
    timeoutMs: 120_000,
    ...opts,
  });
  const up = await holdsWithin(
    async () =>
      (await findProcesses(`sleep ${marker}`)).length > 0 &&
      (await readFile(registry, "utf8").catch(() => before)) !== before,
    20_000,
  );
  if (!up) {
    live.kill("SIGKILL");
    throw new Error(`the live sandbox did not start:\n${describeRun(await live)}`);
  }
  return { live, marker };
}

/** Runs one command in the sandbox's shell and returns its trimmed stdout (fails the test on a non-zero exit). */
export async function shellOut(fx: LauncherFixture, args: string[], script: string): Promise<string> {
  const r = await launch(fx, [...args, fx.project, "--", "-c", script]);
  if (r.exitCode !== 0) throw new Error(`sandbox command failed: ${script}\n${describeRun(r)}`);
  return String(r.stdout).trim();
}

/** The pid namespace of a host process as "pid:[inode]". */
export async function hostPidNs(): Promise<string> {
  const r = await execa("readlink", ["/proc/self/ns/pid"]);
  return r.stdout.trim();
}
