import { execFileSync } from "node:child_process";

/** The unprivileged account the escape suite runs the launcher as, next to root. */
export interface SandboxUser {
  name: string;
  uid: number;
  gid: number;
}

/** Root, as a SandboxUser, so tests can loop over both identities the same way. */
export const ROOT: SandboxUser = { name: "root", uid: 0, gid: 0 };

const TEST_USER = "csbxtest";

function lookup(name: string): SandboxUser | undefined {
  try {
    const uid = Number(execFileSync("id", ["-u", name], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", name], { encoding: "utf8" }).trim());
    return { name, uid, gid };
  } catch {
    return undefined;
  }
}

/**
 * Returns the test user, creating it once (no home directory: each test gives it a temp HOME). Needs root,
 * which the integration suite runs as.
 */
export function ensureTestUser(): SandboxUser {
  const existing = lookup(TEST_USER);
  if (existing) return existing;
  try {
    execFileSync("useradd", ["--no-create-home", "--shell", "/bin/bash", "--user-group", TEST_USER], {
      stdio: ["ignore", "ignore", "pipe"],
    });
  } catch (error) {
    // Another test file may have created it between the lookup and useradd.
    const raced = lookup(TEST_USER);
    if (raced) return raced;
    throw new Error(`cannot create the test user ${TEST_USER} (the escape suite must run as root)`, {
      cause: error,
    });
  }
  const created = lookup(TEST_USER);
  if (!created) throw new Error(`useradd ${TEST_USER} succeeded but id cannot find it`);
  return created;
}

/** argv prefix that runs a command as `user` (nothing for root). */
export function asUser(user: SandboxUser): string[] {
  if (user.uid === 0) return [];
  return ["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--init-groups", "--"];
}

/** [file, args] that run `file args…` as `user`, for execa. */
export function userCommand(user: SandboxUser, file: string, args: string[]): [string, string[]] {
  const prefix = asUser(user);
  const first = prefix[0];
  return first === undefined ? [file, args] : [first, [...prefix.slice(1), file, ...args]];
}
