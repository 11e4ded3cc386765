import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rmdir, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { chownTree } from "./sandbox-home.js";
import type { SandboxUser } from "./sandbox-user.js";
import { holdsWithin } from "./wait.js";

/** Where the cgroup2 hierarchy is mounted (its root), or undefined on a host without one. */
export async function cgroup2Root(): Promise<string | undefined> {
  const mountinfo = await readFile("/proc/self/mountinfo", "utf8");
  for (const line of mountinfo.split("\n")) {
    const [left, right] = line.split(" - ");
    if (!right?.startsWith("cgroup2 ")) continue;
    const fields = left?.split(" ") ?? [];
    if (fields[3] === "/" && fields[4]) return fields[4];
  }
  return undefined;
}

/** A cgroup a test starts processes in, as a launch cgroup would be (a terminal's scope, a service's). */
export interface TestCgroup {
  path: string;
  /** argv that runs `argv` inside this cgroup: moved there first (by root), then exec'd. */
  wrap(argv: [string, string[]]): [string, string[]];
  /** Kills what is left in it (and below) and removes it. */
  remove(): Promise<void>;
}

/**
 * Creates a cgroup below the cgroup2 root. With `delegateTo`, it and every file in it belong to that user, the way
 * systemd delegates user@UID.service to its user: the user may create cgroups below it, move its processes
 * between them and write their files (cgroup.kill included).
 */
export async function createTestCgroup(delegateTo?: SandboxUser): Promise<TestCgroup> {
  const root = await cgroup2Root();
  if (!root) throw new Error("no cgroup2 hierarchy is mounted on this host");
  const dir = path.join(root, `csbx-test-${randomBytes(4).toString("hex")}`);
  await mkdir(dir);
  if (delegateTo && delegateTo.uid !== 0) await chownTree(dir, delegateTo);
  return {
    path: dir,
    wrap([file, args]) {
      return [
        "bash",
        [
          "-c",
          'printf "%s\\n" "$$" > "$1/cgroup.procs" && shift && exec "$@"',
          "in-cgroup",
          dir,
          file,
          ...args,
        ],
      ];
    },
    async remove() {
      await removeTree(dir);
    },
  };
}

async function removeTree(dir: string): Promise<void> {
  const exists = await stat(dir).then(
    () => true,
    () => false,
  );
  if (!exists) return;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) await removeTree(path.join(dir, entry.name));
  }
  await writeFile(path.join(dir, "cgroup.kill"), "1").catch(() => undefined);
  await holdsWithin(
    async () =>
      (await readFile(path.join(dir, "cgroup.events"), "utf8").catch(() => "populated 0")).includes(
        "populated 0",
      ),
    2000,
    20,
  );
  await rmdir(dir).catch(() => undefined);
}
