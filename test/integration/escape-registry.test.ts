import { readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { execa } from "execa";
import { afterEach, describe, expect, test } from "vitest";
import { requires } from "../helpers/requires.js";
import { type SandboxFixture, useSandboxFixture } from "../helpers/sandbox-home.js";
import type { HostProcess } from "../helpers/sandbox-host.js";
import { describeRun, findProcesses, runLauncher } from "../helpers/sandbox-launcher.js";
import { ensureTestUser, ROOT, type SandboxUser } from "../helpers/sandbox-user.js";
import { holdsWithin } from "../helpers/wait.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root", "userns");

// The per-project registry names the live sandbox by pid. If that sandbox dies and its pid is reused by an
// unrelated host process, --enter must not join that process's namespaces (for root: a host root shell) and
// --stop must not kill it. The test simulates the reuse by pointing a stale registry at a host process,
// start time included, so only the namespace check stands in the way.

const users: [string, () => SandboxUser][] = [
  ["root", () => ROOT],
  ["unprivileged user", ensureTestUser],
];

const fixtures = useSandboxFixture();
let sleeper: HostProcess | undefined;
afterEach(async () => {
  await sleeper?.close();
  sleeper = undefined;
});

async function startHostParent(): Promise<HostProcess> {
  const marker = `86400.${Math.floor(Math.random() * 1e9)}`;
  const child = execa("bash", ["-c", `sleep ${marker} & wait`], {
    reject: false,
    detached: true,
    stdio: "ignore",
  });
  const pid = child.pid as number;
  await holdsWithin(async () => {
    const kids = await readFile(`/proc/${pid}/task/${pid}/children`, "utf8").catch(() => "");
    return kids.trim() !== "";
  }, 5_000);
  return {
    pid,
    marker,
    alive: () => child.exitCode === null && child.signalCode === null,
    close: async () => {
      process.kill(-pid, "SIGKILL");
      await child;
    },
  };
}

async function registryFile(f: SandboxFixture): Promise<string> {
  const projects = path.join(f.home, ".local", "state", "claude-sandbox", "projects");
  const dirs = await readdir(projects);
  const dir = dirs.find((d) => d.startsWith("project-"));
  if (!dir) throw new Error(`no state dir for the project under ${projects}: ${dirs.join(", ")}`);
  return path.join(projects, dir, "ns");
}

async function startTime(pid: number): Promise<string> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? "";
}

describe.skipIf(missing).each(users)("registry, as %s", (_label, user) => {
  test("a stale registry whose pid now belongs to a host process is neither joined nor stopped", async () => {
    const fx = await fixtures.create(user());
    const f = fx;
    const marker = `300.${Math.floor(Math.random() * 1e9)}`;
    const live = runLauncher(f, ["--no-network", "--shell", f.project, "--", "-c", `sleep ${marker}`], {
      timeoutMs: 60_000,
    });
    const up = await holdsWithin(
      async () => (await findProcesses(`sleep ${marker}`)).some((p) => p.cmdline.startsWith("sleep ")),
      20_000,
    );
    expect(up, "the live sandbox did not start").toBe(true);
    const ns = await registryFile(f);
    const registry = await readFile(ns, "utf8");
    const initPid = Number(/^pid=(\d+)$/m.exec(registry)?.[1]);
    expect(initPid, `registry:\n${registry}`).toBeGreaterThan(1);

    // The sandbox dies without --stop, leaving its registry behind; then "its" pid is reused.
    process.kill(initPid, "SIGKILL");
    await live;
    // A host process with a child, like a sandbox init with its payload, so only the namespace check is left.
    sleeper = await startHostParent();
    const forged = registry
      .replace(/^pid=\d+$/m, `pid=${sleeper.pid}`)
      .replace(/^start=\d+$/m, `start=${await startTime(sleeper.pid)}`);
    await writeFile(ns, forged);

    const enter = await runLauncher(f, [
      "--enter",
      f.project,
      "--",
      "-c",
      "echo ENTERED; cat /proc/1/cmdline",
    ]);
    expect.soft(String(enter.stdout), describeRun(enter)).not.toContain("ENTERED");
    expect.soft(enter.exitCode, describeRun(enter)).not.toBe(0);
    const stop = await runLauncher(f, ["--stop", f.project]);
    expect.soft(sleeper.alive(), `--stop killed an unrelated host process: ${describeRun(stop)}`).toBe(true);
  });
});
