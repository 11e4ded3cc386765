import { randomBytes } from "node:crypto";
import { chown, mkdir } from "node:fs/promises";
import path from "node:path";
import { execa } from "execa";
import { type LauncherFixture, launcherEnv } from "./launcher-harness.js";
import { userCommand } from "./sandbox-user.js";

// What the host does after a session, as the fixture's user: run git in the project (or a worktree of it),
// run the hook commands Claude Code would run. The attack tests assert that none of it runs what the sandbox
// wrote.

/** Runs FILE ARGS on the host as the fixture's user, in CWD, with the fixture's HOME; never throws. */
export function hostRun(
  fx: LauncherFixture,
  cwd: string,
  file: string,
  args: string[],
  env: Record<string, string> = {},
) {
  const [cmd, argv] = userCommand(fx.user, file, args);
  return execa(cmd, argv, {
    env: launcherEnv(fx, { GIT_CONFIG_NOSYSTEM: "1", ...env }),
    extendEnv: false,
    cwd,
    reject: false,
    timeout: 30_000,
  });
}

/** Git on the host, as the user; fails the test on a non-zero exit unless `allowFailure`. */
export async function hostGit(fx: LauncherFixture, cwd: string, args: string[], allowFailure = false) {
  const r = await hostRun(fx, cwd, "git", [
    "-c",
    "user.name=t",
    "-c",
    "user.email=t@example.org",
    "-c",
    "commit.gpgsign=false",
    "-c",
    "protocol.file.allow=always",
    "-c",
    "init.defaultBranch=main",
    ...args,
  ]);
  if (!allowFailure && r.exitCode !== 0) {
    throw new Error(`host git ${args.join(" ")} failed in ${cwd}: ${r.stderr}`);
  }
  return r;
}

/** A directory owned by the fixture's user (the fixture root itself is root's). */
export async function userDir(fx: LauncherFixture, ...parts: string[]): Promise<string> {
  const dir = path.join(fx.root, ...parts);
  await mkdir(dir, { recursive: true });
  let p = dir;
  while (p.startsWith(`${fx.root}/`)) {
    await chown(p, fx.user.uid, fx.user.gid);
    p = path.dirname(p);
  }
  return dir;
}

/** A file the host-side payload creates when it runs: in the user's HOME, which no sandbox sees on the host. */
export function hostMarker(fx: LauncherFixture, what: string): string {
  return path.join(fx.home, `ran-on-host-${what}-${randomBytes(4).toString("hex")}`);
}

/**
 * Shell lines, run inside, that create a git dir at DIR whose config makes any git that uses it run
 * `touch MARKER` (core.fsmonitor runs on `git status`, and a hook would on commit).
 */
export function plantGitDir(dir: string, marker: string): string {
  return [
    `git init -q --bare ${dir} 2>/dev/null`,
    `git config -f ${dir}/config core.bare false`,
    `git config -f ${dir}/config core.fsmonitor 'touch ${marker}'`,
  ].join("; ");
}

/** git with an identity and no signing, for commits made inside a sandbox. */
export const GIT = "git -c user.name=t -c user.email=t@e -c commit.gpgsign=false";
/** Where attacks plant their git dir (plantGitDir), in the sandbox's working directory. */
export const EVIL = "$PWD/evil.git";

/** A repository at DIR (the project by default) with one commit, made on the host. */
export async function hostRepo(fx: LauncherFixture, dir = fx.project) {
  await hostGit(fx, dir, ["init", "-q", "."]);
  await hostGit(fx, dir, ["commit", "-q", "--allow-empty", "-m", "init"]);
}

/** Shell lines, run inside: plant EVIL for MARKER, then CHANGE; the outcome line is `changed` or `kept`. */
export function gitAttack(marker: string, change: string): string {
  return `${plantGitDir(EVIL, marker)}\n(${change}) 2>/dev/null && echo changed || echo kept`;
}
