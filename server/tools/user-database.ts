// The user database, for deciding what a caller could do on its own: its home, its groups, and everyone's
// homes. /etc/passwd and /etc/group are read directly (no fork); an account they do not list (LDAP, sssd) is
// looked up through NSS with getent and id.
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";

export interface UserEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const LOOKUP_TIMEOUT_MS = 5000;
const run = promisify(execFile);

/** Every account in /etc/passwd. */
export async function localUsers(): Promise<UserEntry[]> {
  return (await lines("/etc/passwd")).flatMap((line) => {
    const entry = parsePasswd(line);
    return entry === undefined ? [] : [entry];
  });
}

/** Every group in /etc/group. */
export async function localGroups(): Promise<GroupEntry[]> {
  return (await lines("/etc/group")).flatMap((line) => {
    const entry = parseGroup(line);
    return entry === undefined ? [] : [entry];
  });
}

/** The account of `uid`, or undefined if no database knows it. `users`: localUsers(), when already read. */
export async function findUser(uid: number, users?: readonly UserEntry[]): Promise<UserEntry | undefined> {
  const local = (users ?? (await localUsers())).find((u) => u.uid === uid);
  if (local !== undefined) return local;
  const out = await nss("getent", ["passwd", String(uid)]);
  return out === undefined ? undefined : parsePasswd(out.split("\n")[0] ?? "");
}

/**
 * The groups `user` belongs to in the database: its primary group and every group listing it. `users`:
 * localUsers(), when already read.
 */
export async function groupsOf(user: UserEntry, users?: readonly UserEntry[]): Promise<number[]> {
  const groups = new Set([user.gid]);
  for (const group of await localGroups()) if (group.members.includes(user.name)) groups.add(group.gid);
  if (!(users ?? (await localUsers())).some((u) => u.uid === user.uid)) {
    // Not a local account: its groups come from NSS too (id uses getgrouplist).
    const out = await nss("id", ["-G", "--", user.name]);
    for (const gid of out?.trim().split(/\s+/) ?? []) if (/^[0-9]+$/.test(gid)) groups.add(Number(gid));
  }
  return [...groups];
}

/** A group by name or number, or undefined if no database knows it. */
export async function findGroup(nameOrId: string): Promise<GroupEntry | undefined> {
  const numeric = /^[0-9]+$/.test(nameOrId);
  const local = (await localGroups()).find((g) =>
    numeric ? g.gid === Number(nameOrId) : g.name === nameOrId,
  );
  if (local !== undefined) return local;
  const out = await nss("getent", ["group", "--", nameOrId]);
  const found = out === undefined ? undefined : parseGroup(out.split("\n")[0] ?? "");
  if (found !== undefined) return found;
  // A number no database names is still a group the kernel can use.
  return numeric ? { name: nameOrId, gid: Number(nameOrId), members: [] } : undefined;
}

async function lines(path: string): Promise<string[]> {
  try {
    return (await readFile(path, "utf8")).split("\n");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}

async function nss(command: string, args: string[]): Promise<string | undefined> {
  try {
    return (await run(command, args, { timeout: LOOKUP_TIMEOUT_MS })).stdout;
  } catch {
    // Not found (getent exits 2), or the tool is missing: the account is unknown.
    return undefined;
  }
}

function parsePasswd(line: string): UserEntry | undefined {
  const f = line.split(":");
  if (f.length < 7 || !/^[0-9]+$/.test(f[2] ?? "") || !/^[0-9]+$/.test(f[3] ?? "")) return undefined;
  return { name: f[0] ?? "", uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? "" };
}

function parseGroup(line: string): GroupEntry | undefined {
  const f = line.split(":");
  if (f.length < 4 || !/^[0-9]+$/.test(f[2] ?? "")) return undefined;
  return { name: f[0] ?? "", gid: Number(f[2]), members: (f[3] ?? "").split(",").filter((m) => m !== "") };
}
