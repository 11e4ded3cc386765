// Each sandbox's own cgroup (cgroup v2), made by the manager. The launcher gives a sandbox started from a terminal
// a cgroup of its own, but not a `--new` one, the manager's way: moving a process into a cgroup waits for an RCU
// grace period (up to ~10 ms), which would double a launch. The manager moves the pane's wrapper while that still
// waits for Xvfb (the long pole of a create), so it costs a create nothing: the launcher starts inside the
// sandbox's cgroup, its cgroup namespace is rooted there, and whatever the sandbox starts stays in it. Teardown
// then ends everything with cgroup.kill, processes that left the tree included, and removes the cgroup.
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { access, mkdir, readdir, readFile, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

export interface SandboxCgroups {
  /** The directory of the cgroup that holds every sandbox cgroup of this manager. */
  root: string;
  /** The cgroup of sandbox `id`. */
  dirOf(id: string): string;
  /** Makes the sandbox's cgroup and moves `pid` into it. False when that could not be done. */
  enter(id: string, pid: number): Promise<boolean>;
  /** Kills what is left in the sandbox's cgroup and removes it; nothing when it does not exist. */
  remove(id: string): Promise<void>;
  /** The ids of the sandbox cgroups that exist. */
  ids(): Promise<string[]>;
  /** Removes the manager's cgroup when no sandbox cgroup is left in it. */
  close(): Promise<void>;
}

const PREFIX = "sandbox-";

/**
 * The directory of a process's cgroup (this one's by default) in the cgroup2 hierarchy, from /proc/PID/cgroup
 * ("0::/path") and the cgroup2 mount in /proc/self/mountinfo (whose root field says which part of the hierarchy
 * it shows); null without cgroup2 or when the path lies outside this process's cgroup namespace.
 */
export async function cgroupDirOf(pid: number | "self" = "self"): Promise<string | null> {
  const cgroup = await readFile(`/proc/${pid}/cgroup`, "utf8").catch(() => "");
  const path = /^0::(\/.*)$/m.exec(cgroup)?.[1];
  if (path === undefined || path.includes("/..")) return null;
  const mountinfo = await readFile("/proc/self/mountinfo", "utf8").catch(() => "");
  for (const line of mountinfo.split("\n")) {
    const [fields, fsPart] = line.split(" - ");
    if (fsPart === undefined || !fsPart.startsWith("cgroup2 ")) continue;
    const [, , , root, mountPoint] = (fields ?? "").split(" ");
    if (root === undefined || mountPoint === undefined || root.includes("\\") || mountPoint.includes("\\"))
      continue;
    const base = root === "/" ? "" : root;
    if (base !== "" && path !== base && !path.startsWith(`${base}/`)) continue;
    return join(mountPoint, path.slice(base.length));
  }
  return null;
}

/**
 * The sandbox cgroups of the manager whose state dir is `stateDir`, below its own cgroup; null where it may not
 * make cgroups there (not root and not delegated, a read-only cgroupfs, no cgroup2): sandboxes then stay in the
 * manager's cgroup, as they did before, and nothing inside can reach cgroupfs without user namespaces.
 */
export async function openSandboxCgroups(stateDir: string): Promise<SandboxCgroups | null> {
  const own = await cgroupDirOf();
  if (own === null) return null;
  try {
    await access(own, constants.W_OK);
    await access(join(own, "cgroup.procs"), constants.W_OK);
  } catch {
    return null;
  }
  // One per state dir: several managers (tests, users) may share the caller's cgroup.
  const tag = createHash("sha256").update(stateDir).digest("hex").slice(0, 12);
  const root = join(own, `claude-sandbox-manager.${tag}`);
  await sweep(own);
  try {
    await mkdir(root, { recursive: true });
  } catch {
    return null;
  }
  const dirOf = (id: string): string => join(root, `${PREFIX}${id}`);

  return {
    root,
    dirOf,
    async enter(id, pid) {
      // Twice: another manager's sweep may remove the empty cgroup between the mkdir and the move.
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          await mkdir(dirOf(id), { recursive: true });
          await writeFile(join(dirOf(id), "cgroup.procs"), `${pid}\n`);
          return true;
        } catch {}
      }
      return false;
    },
    async remove(id) {
      const dir = dirOf(id);
      // ENOENT: no such cgroup (rmdir below says so too), or a kernel before 5.14 without cgroup.kill: teardown
      // has signalled the processes.
      await writeFile(join(dir, "cgroup.kill"), "1\n").catch(() => {});
      // cgroup.kill is asynchronous: the cgroup is empty once its events say so; rmdir fails (EBUSY) before.
      const deadline = Date.now() + 3000;
      for (;;) {
        try {
          await rmdir(dir);
          return;
        } catch (error) {
          // ENOENT: there is no such cgroup, or it is gone already.
          if ((error as NodeJS.ErrnoException).code !== "EBUSY" || Date.now() > deadline) return;
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    async ids() {
      const names = await readdir(root).catch(() => [] as string[]);
      return names.filter((n) => n.startsWith(PREFIX)).map((n) => n.slice(PREFIX.length));
    },
    async close() {
      // rmdir of a cgroup that still has children fails (EBUSY): those sandboxes are running.
      await rmdir(root).catch(() => {});
    },
  };
}

/**
 * Removes what managers killed without a shutdown left below `parent`: empty sandbox cgroups and empty manager
 * cgroups. rmdir refuses a cgroup that holds a process or a child, so no running sandbox's is ever touched.
 */
async function sweep(parent: string): Promise<void> {
  const managers = (await readdir(parent).catch(() => [] as string[])).filter((n) =>
    n.startsWith("claude-sandbox-manager."),
  );
  for (const name of managers) {
    const dir = join(parent, name);
    for (const child of await readdir(dir).catch(() => [] as string[])) {
      if (child.startsWith(PREFIX)) await rmdir(join(dir, child)).catch(() => {});
    }
    await rmdir(dir).catch(() => {});
  }
}
