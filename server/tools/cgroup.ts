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
import type { ResourceLimits } from "../sandbox/types.js";
import {
  type AppliedLimits,
  cgroupV1DirsOf,
  LIMIT_CONTROLLERS,
  type LimitController,
  oomKillCount,
  writeLimits,
} from "./cgroup-limits.js";

export interface SandboxCgroups {
  /** The directory of the cgroup that holds every sandbox cgroup of this manager. */
  root: string;
  /** The cgroup of sandbox `id`. */
  dirOf(id: string): string;
  /**
   * Makes the sandbox's cgroup, writes its limits (cgroup-limits.ts) and moves `pid` into it; `entered` is false
   * when it could not be moved in, and then no limit holds either.
   */
  enter(id: string, pid: number, limits?: ResourceLimits): Promise<EnterResult>;
  /** How many times the OOM killer killed in the sandbox's cgroup; read before remove(). */
  oomKills(id: string): Promise<number>;
  /** Kills what is left in the sandbox's cgroup and removes it; nothing when it does not exist. */
  remove(id: string): Promise<void>;
  /** The ids of the sandbox cgroups that exist. */
  ids(): Promise<string[]>;
  /** Removes the manager's cgroup when no sandbox cgroup is left in it. */
  close(): Promise<void>;
}

export interface EnterResult extends AppliedLimits {
  entered: boolean;
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
  const managerDir = `claude-sandbox-manager.${tag}`;
  // The hybrid layout's v1 hierarchies of the controllers cgroup2 does not offer, where this process may make
  // cgroups (its own cgroup there is writable).
  const v1Roots = new Map<LimitController, string>();
  for (const [controller, dir] of await cgroupV1DirsOf()) {
    const writable = await access(join(dir, "cgroup.procs"), constants.W_OK).then(
      () => true,
      () => false,
    );
    if (writable) v1Roots.set(controller, join(dir, managerDir));
  }
  await sweep(own);
  for (const root of v1Roots.values()) await sweep(join(root, ".."));
  try {
    await mkdir(root, { recursive: true });
  } catch {
    return null;
  }
  const v2Why = await handDownControllers(own, root, `${root}.self`);
  const dirOf = (id: string): string => join(root, `${PREFIX}${id}`);
  const v1DirsOf = (id: string): Map<LimitController, string> =>
    new Map([...v1Roots].map(([c, dir]) => [c, join(dir, `${PREFIX}${id}`)]));
  const noLimits: AppliedLimits = { applied: false, note: "", usage: { memory: null, pids: null } };

  return {
    root,
    dirOf,
    async enter(id, pid, limits) {
      // Twice: another manager's sweep may remove the empty cgroup between the mkdir and the move.
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          await mkdir(dirOf(id), { recursive: true });
          let applied = noLimits;
          let v1Dirs: string[] = [];
          if (limits !== undefined) {
            const controllers = await readFile(join(dirOf(id), "cgroup.controllers"), "utf8").catch(() => "");
            ({ v1Dirs, ...applied } = await writeLimits(
              { v2: dirOf(id), v2Controllers: new Set(controllers.split(/\s+/)), v1: v1DirsOf(id), v2Why },
              limits,
            ));
          }
          // Into the limited v1 cgroups first: the process must never run unlimited in the v2 one alone.
          for (const dir of v1Dirs) await writeFile(join(dir, "cgroup.procs"), `${pid}\n`);
          await writeFile(join(dirOf(id), "cgroup.procs"), `${pid}\n`);
          return { entered: true, ...applied };
        } catch {}
      }
      return {
        entered: false,
        applied: false,
        note: "memory, processes, cpu weight not limited: the sandbox could not be moved into its cgroup",
        usage: { memory: null, pids: null },
      };
    },
    async oomKills(id) {
      const memory = v1Roots.has("memory") ? (v1DirsOf(id).get("memory") ?? null) : null;
      const [v2, v1] = await Promise.all([
        oomKillCount({ version: 2, dir: dirOf(id) }),
        memory === null ? 0 : oomKillCount({ version: 1, dir: memory }),
      ]);
      return v2 + v1;
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
          break; // on to the v1 cgroups
        } catch (error) {
          // ENOENT: there is no such cgroup, or it is gone already.
          if ((error as NodeJS.ErrnoException).code !== "EBUSY" || Date.now() > deadline) break;
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      // The v1 cgroups empty with the v2 one: every process in them was in it too.
      for (const v1 of v1DirsOf(id).values()) {
        for (;;) {
          try {
            await rmdir(v1);
            break;
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== "EBUSY" || Date.now() > deadline) break;
          }
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      }
    },
    async ids() {
      const names = await readdir(root).catch(() => [] as string[]);
      return names.filter((n) => n.startsWith(PREFIX)).map((n) => n.slice(PREFIX.length));
    },
    async close() {
      // rmdir of a cgroup that still has children fails (EBUSY): those sandboxes are running.
      await rmdir(root).catch(() => {});
      for (const v1 of v1Roots.values()) await rmdir(v1).catch(() => {});
    },
  };
}

/**
 * Enables memory, pids and cpu for the sandbox cgroups where cgroup v2 offers them: in the manager's cgroup
 * (`root`) and, since a controller reaches it only through its parent, in the manager's own cgroup. The kernel
 * refuses that (EBUSY) while the own cgroup holds processes, unless it is the root cgroup: in a cgroup delegated
 * to the manager (a systemd unit with Delegate=yes) the manager itself is that process, so it moves into a leaf
 * of its own (`selfLeaf`, beside the sandboxes' cgroup) and tries again, as systemd's delegation rules ask.
 * Returns why v2 holds no limits, for the note of a sandbox whose limits end up nowhere.
 */
async function handDownControllers(own: string, root: string, selfLeaf: string): Promise<string> {
  const offered = (await readFile(join(own, "cgroup.controllers"), "utf8").catch(() => "")).split(/\s+/);
  const wanted = LIMIT_CONTROLLERS.filter((c) => offered.includes(c));
  const enable = async (dir: string): Promise<boolean> => {
    let busy = false;
    for (const controller of wanted) {
      await writeFile(join(dir, "cgroup.subtree_control"), `+${controller}\n`).catch((error) => {
        if ((error as NodeJS.ErrnoException).code === "EBUSY") busy = true;
      });
    }
    return busy;
  };
  if (wanted.length > 0 && (await enable(own))) {
    const moved = await mkdir(selfLeaf, { recursive: true })
      .then(() => writeFile(join(selfLeaf, "cgroup.procs"), `${process.pid}\n`))
      .then(
        () => true,
        () => false,
      );
    if (moved) await enable(own);
  }
  await enable(root);
  const handed = (await readFile(join(root, "cgroup.subtree_control"), "utf8").catch(() => "")).split(/\s+/);
  const lacking = LIMIT_CONTROLLERS.filter((c) => !handed.includes(c));
  if (lacking.length === 0) return "";
  const notOffered = lacking.filter((c) => !offered.includes(c));
  return notOffered.length === lacking.length
    ? `cgroup v2 offers no ${lacking.join("/")} controller at ${own}`
    : `cgroup v2 cannot hand ${lacking.join("/")} down from ${own} (other processes than the manager are in it; run the manager in a cgroup delegated to it alone, e.g. a systemd unit with Delegate=yes)`;
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
