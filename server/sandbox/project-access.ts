// Whether a requester may have a directory as a sandbox's project. The sandbox runs as the manager's user and
// gets the project read-write, so a directory is refused when it is one the launcher protects (the shared list
// in launcher/protected-paths.json), when it is or holds something of the manager's or of a user's home that
// the sandbox must not write, or when the requester could not write it on its own: sharing a manager must
// hand nobody a directory they could not already change.
import { spawn } from "node:child_process";
import { constants, type Stats } from "node:fs";
import { access, type FileHandle, open, readlink, realpath, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ancestors } from "../tools/ancestors.js";
import { PACKAGE_ROOT } from "../tools/package-root.js";
import { findUser, groupsOf, localUsers, type UserEntry } from "../tools/user-database.js";
import { invalidArgument, missingTool, permissionDenied } from "./errors.js";
import { protectedPaths } from "./protected-paths.js";
import type { Requester } from "./types.js";

export interface ProjectAccessContext {
  /** The manager's state directory (its tmux socket controls every sandbox). */
  stateDir: string;
  /** The environment the launcher runs with: its HOME, XDG_* and SSH_AUTH_SOCK decide what it protects. */
  env: NodeJS.ProcessEnv;
  /** PATH to find setpriv on, for the kernel's own access check as the requester. */
  path: string;
}

/**
 * A project directory opened once: every check judges this directory, and the launcher is handed this
 * descriptor (launchPath), so a caller who renames or swaps the path afterwards changes nothing.
 */
export interface OpenedProject {
  /** Where the opened directory is, as the kernel names it now. */
  path: string;
  handle: FileHandle;
  info: Stats;
}

const FIELD = "project_dir";
const CHECK_TIMEOUT_MS = 5000;
// Run as the requester by setpriv, on the descriptor it inherits as fd 3: fixed text, no path walked again.
const CAN_WRITE = "test -w /proc/self/fd/3 && test -x /proc/self/fd/3";

/** The manager process's own identity: what it acts as for in-process callers and token holders. */
export function ownIdentity(): Requester {
  return {
    uid: process.geteuid?.() ?? 0,
    gid: process.getegid?.() ?? 0,
    groups: process.getgroups?.() ?? [],
  };
}

/** Opens the directory at `real` (a real path) for the checks and the launch. */
export async function openProject(real: string): Promise<OpenedProject> {
  const handle = await open(real, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    return { path: await currentPath(handle, real), handle, info: await handle.stat() };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * What the launcher is given as the project: the manager's descriptor through /proc, which leads to the opened
 * directory itself however its path changed (the launcher runs as the manager's user, so it may follow it).
 */
export function launchPath(project: OpenedProject): string {
  return `/proc/${process.pid}/fd/${project.handle.fd}`;
}

/** Throws invalid_argument or permission_denied, naming the directory and why, unless `project` may be used. */
export async function checkProjectAccess(
  project: OpenedProject,
  requester: Requester,
  context: ProjectAccessContext,
): Promise<void> {
  const euid = process.geteuid?.() ?? 0;
  // /etc/passwd read once for every check of this request.
  const users = await localUsers();
  const user = await findUser(requester.uid, users);
  const daemonUser = requester.uid === euid ? user : await findUser(euid, users);
  await checkProtected(project.path, requester, user, daemonUser, users, context);
  // Root may write any directory.
  if (requester.uid !== 0) await checkWritable(project, requester, user, users, euid, context.path);
  // The path checks judged where the directory was: it must still be there.
  if ((await currentPath(project.handle, project.path)) !== project.path) {
    throw invalidArgument(FIELD, `${JSON.stringify(project.path)} was moved while it was being checked`);
  }
}

async function currentPath(handle: FileHandle, asked: string): Promise<string> {
  const path = await readlink(`/proc/self/fd/${handle.fd}`);
  if (!path.startsWith("/") || path.endsWith(" (deleted)")) {
    throw invalidArgument(FIELD, `${JSON.stringify(asked)} was removed while it was being opened`);
  }
  return path;
}

// --- protected paths ----------------------------------------------------------------------------------------

async function checkProtected(
  project: string,
  requester: Requester,
  user: UserEntry | undefined,
  daemonUser: UserEntry | undefined,
  users: readonly UserEntry[],
  context: ProjectAccessContext,
): Promise<void> {
  const refuse = (why: string): never => {
    throw invalidArgument(FIELD, `refusing ${JSON.stringify(project)}: ${why}`);
  };
  if (project === "/") refuse("it is the whole host; use a project directory");
  const list = protectedPaths();
  const { env } = context;
  const euid = process.geteuid?.() ?? 0;

  for (const p of list.system) {
    if (isOrInside(project, p)) {
      refuse(`it is part of the host system (${p}), which a sandbox must not be able to write`);
    }
  }
  const holders = [
    ...list.holders,
    ...new Set([euid, requester.uid].flatMap((uid) => [`/tmp/tmux-${uid}`, `/run/user/${uid}`])),
    env.XDG_RUNTIME_DIR,
    env.SSH_AUTH_SOCK === undefined ? undefined : dirname(env.SSH_AUTH_SOCK),
  ];
  for (const p of holders) {
    if (p?.startsWith("/") && p !== "/" && isOrHolds(project, p)) {
      refuse(
        `it is or holds ${p} (host sockets, other users' or programs' files), which a sandbox must not reach`,
      );
    }
  }

  // Homes: the launcher's (its HOME), the daemon user's and the requester's. The sandbox must not write a home,
  // the protected entries in it, or any of its dot directories (configuration, credentials, tools on PATH).
  const homes = unique([env.HOME, daemonUser?.home, user?.home]);
  for (const home of await withRealPaths(homes)) {
    if (isOrHolds(project, home)) refuse(`it contains the home directory ${home}`);
    const rest = project.startsWith(`${home}/`) ? project.slice(home.length + 1) : undefined;
    if (rest?.startsWith(".")) {
      refuse(`it lies inside ${join(home, rest.split("/")[0] ?? "")}, a dot directory of the home ${home}`);
    }
    for (const entry of await withRealPaths(list.home.map((e) => join(home, e)))) {
      if (isOrHolds(project, entry) || isOrInside(project, entry)) {
        refuse(
          `the sandbox keeps ${entry} out of reach or read-only; a project that is, holds or lies inside it would make it writable`,
        );
      }
    }
  }
  const launcherState =
    env.XDG_STATE_HOME ?? (env.HOME === undefined ? undefined : join(env.HOME, ".local/state"));
  for (const p of await withRealPaths(unique([launcherState]))) {
    if (isOrHolds(project, p) || isOrInside(project, p))
      refuse(`it is, holds or lies inside the launcher's state ${p}`);
  }
  for (const other of users) {
    if (other.home.startsWith("/") && other.home !== "/" && isOrHolds(project, other.home)) {
      refuse(`it contains the home directory of ${other.name} (${other.home})`);
    }
  }

  const own: [string, string][] = [
    [context.stateDir, "the manager's state directory (its tmux socket controls every sandbox)"],
    [PACKAGE_ROOT, "the manager's own installation (the launcher it runs on the host)"],
  ];
  for (const [dir, what] of own) {
    for (const p of await withRealPaths([dir])) {
      if (isOrHolds(project, p) || isOrInside(project, p))
        refuse(`it is, holds or lies inside ${what}, ${p}`);
    }
  }
}

// --- what the requester could write --------------------------------------------------------------------------

async function checkWritable(
  project: OpenedProject,
  requester: Requester,
  user: UserEntry | undefined,
  users: readonly UserEntry[],
  euid: number,
  searchPath: string,
): Promise<void> {
  const who = `uid ${requester.uid}${user === undefined ? "" : ` (${user.name})`}`;
  const deny = (why: string): never => {
    throw permissionDenied(FIELD, `${JSON.stringify(project.path)}: ${who} could not write it: ${why}`);
  };
  const groups = new Set([
    requester.gid,
    ...requester.groups,
    ...(user === undefined ? [] : await groupsOf(user, users)),
  ]);
  // Every directory on the way must let the requester through, and the opened directory itself must let it in
  // and write.
  for (const dir of ancestors(project.path)) {
    const last = dir === project.path;
    const info = last ? project.info : await stat(dir);
    const want = last ? WRITE | SEARCH : SEARCH;
    if (!allows(info, requester.uid, groups, want)) {
      deny(
        `${last ? "it" : dir} is ${describeMode(info)}, which gives ${who} no ${last ? "write" : "search"} permission`,
      );
    }
  }
  // Mode bits miss ACLs and read-only mounts: the kernel's own answer, where the manager can get it.
  if (requester.uid === euid) {
    try {
      await access(`/proc/self/fd/${project.handle.fd}`, constants.W_OK | constants.X_OK);
    } catch (err) {
      deny(`the kernel refuses it (${(err as NodeJS.ErrnoException).code})`);
    }
  } else if (euid === 0) {
    const status = await kernelCheckAs(project, requester.uid, requester.gid, [...groups], searchPath);
    if (status === 1) deny("the kernel refuses it (an ACL or a read-only mount)");
    if (status !== 0) {
      throw new Error(`setpriv could not check write access as uid ${requester.uid} (exit status ${status})`);
    }
  }
}

/** Exit status of `test -w && test -x` on the opened directory, run as uid/gid/groups through setpriv. */
function kernelCheckAs(
  project: OpenedProject,
  uid: number,
  gid: number,
  groups: number[],
  searchPath: string,
): Promise<number | null> {
  const groupArgs = groups.length === 0 ? ["--clear-groups"] : [`--groups=${groups.join(",")}`];
  const argv = [`--reuid=${uid}`, `--regid=${gid}`, ...groupArgs, "--", "sh", "-c", CAN_WRITE];
  return new Promise((resolve, reject) => {
    const child = spawn("setpriv", argv, {
      env: { PATH: searchPath },
      stdio: ["ignore", "ignore", "ignore", project.handle.fd],
      timeout: CHECK_TIMEOUT_MS,
    });
    child.once("error", (err: NodeJS.ErrnoException) =>
      reject(err.code === "ENOENT" ? missingTool("setpriv", "util-linux", err) : err),
    );
    child.once("exit", (code) => resolve(code));
  });
}

const SEARCH = 1;
const WRITE = 2;

function allows(info: Stats, uid: number, groups: ReadonlySet<number>, want: number): boolean {
  const shift = info.uid === uid ? 6 : groups.has(info.gid) ? 3 : 0;
  return ((info.mode >> shift) & want) === want;
}

function describeMode(info: Stats): string {
  return `mode ${(info.mode & 0o7777).toString(8).padStart(4, "0")}, owner uid ${info.uid}, group ${info.gid}`;
}

function isOrInside(project: string, dir: string): boolean {
  return project === dir || project.startsWith(`${dir}/`);
}

function isOrHolds(project: string, dir: string): boolean {
  return dir === project || dir.startsWith(`${project}/`);
}

function unique(paths: (string | undefined)[]): string[] {
  const absolute = paths.filter((p): p is string => p?.startsWith("/") === true && p !== "/");
  return [...new Set(absolute.map((p) => p.replace(/\/+$/, "")))];
}

/** Each path, plus its real path when it exists and differs (either may be how a project reaches it). */
async function withRealPaths(paths: readonly string[]): Promise<string[]> {
  const all = new Set(paths);
  for (const p of paths) {
    const real = await realpath(p).catch(() => undefined);
    if (real !== undefined) all.add(real);
  }
  return [...all];
}
