import { execa } from "execa";
import { afterEach, describe, expect, test } from "vitest";
import { requires } from "../helpers/requires.js";
import { createTestCgroup, type TestCgroup } from "../helpers/sandbox-cgroup.js";
import { useSandboxFixture } from "../helpers/sandbox-home.js";
import type { HostProcess } from "../helpers/sandbox-host.js";
import { describeRun, LAUNCHER, launcherEnv, runLauncher } from "../helpers/sandbox-launcher.js";
import { ensureTestUser, ROOT, type SandboxUser, userCommand } from "../helpers/sandbox-user.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root", "userns");

// Nested user namespaces, and through them the cgroups of the host. In a user namespace of its own a process has
// every capability over the namespaces it then creates: enough to make a cgroup namespace, mount cgroup2 there and
// write cgroup.kill of the cgroup the sandbox was started in, which kills every host process in it (for root
// without systemd that is the root cgroup, every process there). The launcher turns nested user namespaces off
// unless --allow-userns, and starts each sandbox in a cgroup of its own, so that even with them it sees only
// itself. The launch cgroup here is real: a victim host process of the same user runs in it.

const users: [string, () => SandboxUser][] = [
  ["root", () => ROOT],
  ["unprivileged user", ensureTestUser],
];

const fixtures = useSandboxFixture();
let cgroup: TestCgroup | undefined;
let victim: HostProcess | undefined;
afterEach(async () => {
  await victim?.close();
  victim = undefined;
  await cgroup?.remove();
  cgroup = undefined;
});

const ATTACK =
  'echo started; mkdir -p /tmp/cg && unshare -UCm --keep-caps sh -c "mount -t cgroup2 none /tmp/cg && echo 1 > /tmp/cg/cgroup.kill"; echo "attack=$?"';

describe.skipIf(missing).each(users)("nested user namespaces and cgroups, as %s", (_label, user) => {
  test("unshare -U inside fails by default and works with --allow-userns", async () => {
    const fx = await fixtures.create(user());
    const script = "unshare -U true 2>/dev/null; echo userns=$?";
    const off = await runLauncher(fx, ["--new", "--no-network", "--shell", fx.project, "--", "-c", script]);
    expect(String(off.stdout), describeRun(off)).toMatch(/^userns=[1-9]/);
    const on = await runLauncher(fx, [
      "--new",
      "--no-network",
      "--allow-userns",
      "--shell",
      fx.project,
      "--",
      "-c",
      script,
    ]);
    expect(String(on.stdout), describeRun(on)).toBe("userns=0\n");
  });

  test.each([
    ["by default", ["--new"]],
    ["with --allow-userns", ["--new", "--allow-userns"]],
    ["with --allow-userns, registered", ["--allow-userns"]],
  ])("cgroup.kill from inside kills no host process of the launch cgroup (%s)", async (_how, flags) => {
    const fx = await fixtures.create(user());
    cgroup = await createTestCgroup(fx.owner);
    // The victim: the user's own host process, in the cgroup the sandbox is launched from.
    const [vf, va] = cgroup.wrap(userCommand(fx.owner, "sleep", [`600.${process.pid}`]));
    victim = await startVictim(vf, va);
    const [file, args] = cgroup.wrap(
      userCommand(fx.owner, LAUNCHER, [...flags, "--no-network", "--shell", fx.project, "--", "-c", ATTACK]),
    );
    const r = await execa(file, args, {
      env: launcherEnv(fx),
      extendEnv: false,
      cwd: fx.project,
      reject: false,
      timeout: 30_000,
    });
    expect(String(r.stdout), `the sandbox did not start:\n${describeRun(r)}`).toContain("started");
    // With --allow-userns the attack runs, and what it kills is the sandbox's own cgroup: the sandbox itself
    // (bwrap's monitor, which the launcher became, included).
    if (flags.includes("--allow-userns")) expect(r.signal, describeRun(r)).toBe("SIGKILL");
    else expect(String(r.stdout), describeRun(r)).toMatch(/attack=[1-9]/);
    expect(
      victim.alive(),
      `the host process in the launch cgroup was killed from inside:\n${describeRun(r)}`,
    ).toBe(true);
  });
});

/** A host process run through `file args` (the cgroup wrapper), alive until close(). */
async function startVictim(file: string, args: string[]): Promise<HostProcess> {
  const child = execa(file, args, { reject: false, stdio: "ignore" });
  let exited = false;
  void child.then(() => {
    exited = true;
  });
  // Moved into the cgroup and exec'd by then.
  await new Promise((r) => setTimeout(r, 200));
  if (exited) {
    const r = await child;
    throw new Error(`the victim did not start: exit=${r.exitCode} signal=${r.signal ?? "-"}`);
  }
  return {
    pid: child.pid ?? 0,
    marker: args.at(-1) ?? "",
    alive: () => !exited,
    close: async () => {
      child.kill("SIGKILL");
      await child;
    },
  };
}
