import path from "node:path";
import { execa } from "execa";
import { afterEach, describe, expect, test } from "vitest";
import { requires } from "../helpers/requires.js";
import { createSandboxFixture, type SandboxFixture } from "../helpers/sandbox-home.js";
import { describeRun, killStragglers, LAUNCHER, launcherEnv, REPO } from "../helpers/sandbox-launcher.js";
import { ensureTestUser, ROOT, type SandboxUser } from "../helpers/sandbox-user.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root", "userns");

// A machine with user namespaces disabled (user.max_user_namespaces = 0). The test does not flip the host
// sysctl: that would break every other sandbox on this shared machine while it runs, and root here lacks
// CAP_SYS_RESOURCE to write it anyway. without-userns.py sets the limit to 0 in a throwaway user namespace
// around the command, which the kernel enforces exactly like the host sysctl (bwrap gets ENOSPC, the sysctl
// reads 0), and nothing needs restoring afterwards.

const WITHOUT_USERNS = path.join(REPO, "test", "fixtures", "probe", "without-userns.py");

interface Check {
  check: string;
  status: string;
  detail: string;
  fix: string;
}

const users: [string, () => SandboxUser][] = [
  ["unprivileged user", ensureTestUser],
  ["root", () => ROOT],
];

let fx: SandboxFixture | undefined;
afterEach(async () => {
  if (!fx) return;
  await killStragglers(fx.root);
  await fx.cleanup();
  fx = undefined;
});

async function withoutUserns(f: SandboxFixture, args: string[]) {
  return execa(WITHOUT_USERNS, [String(f.owner.uid), String(f.owner.gid), ...args], {
    env: launcherEnv(f, { CLAUDE_SANDBOX_AGENT: "/usr/bin/true" }),
    extendEnv: false,
    cwd: f.project,
    reject: false,
    timeout: 30_000,
  });
}

describe.skipIf(missing).each(users)("user namespaces disabled, as %s", (_label, user) => {
  test("the wrapper really disables them (control)", async () => {
    fx = await createSandboxFixture(user());
    const r = await withoutUserns(fx, [
      "bash",
      "-c",
      "cat /proc/sys/user/max_user_namespaces; unshare -U true",
    ]);
    expect(String(r.stdout).trim()).toBe("0");
    expect(r.exitCode).not.toBe(0);
  });

  test("doctor names the problem and the sysctl that fixes it", async () => {
    fx = await createSandboxFixture(user());
    const r = await withoutUserns(fx, [LAUNCHER, "doctor", "--json"]);
    expect(r.exitCode, describeRun(r)).toBe(1);
    const checks = new Map(
      String(r.stdout)
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Check)
        .map((c) => [c.check, c]),
    );
    const userns = checks.get("userns.max");
    expect(userns?.status).toBe("fail");
    expect(userns?.detail).toContain("user.max_user_namespaces = 0");
    expect(userns?.fix).toMatch(/sysctl -w user\.max_user_namespaces=\d+/);
    const bwrap = checks.get("bwrap");
    expect(bwrap?.status).toBe("fail");
    expect(bwrap?.detail).toMatch(/user namespaces are disabled/);
    expect(bwrap?.fix).toMatch(/sysctl -w user\.max_user_namespaces=\d+/);

    if (fx.owner.uid !== 0) {
      // As a user, pasta creates its own namespaces, so it fails the same way and must say why.
      const net = checks.get("network-helper");
      expect(net?.status).toBe("fail");
      expect(net?.detail).toMatch(/user namespaces are disabled/);
      expect(net?.fix).toMatch(/sysctl -w user\.max_user_namespaces=\d+/);
    }

    const human = await withoutUserns(fx, [LAUNCHER, "doctor"]);
    expect(String(human.stdout)).toMatch(/^FAIL\s+userns\.max\s+user namespaces are disabled/m);
    expect(String(human.stderr)).toContain("run the fix lines above");
  });

  test("plain claude-sandbox fails with a message that points to the fix, not a bare bwrap error", async () => {
    fx = await createSandboxFixture(user());
    for (const flags of [["--no-network"], []]) {
      const r = await withoutUserns(fx, [
        LAUNCHER,
        "--new",
        ...flags,
        "--shell",
        fx.project,
        "--",
        "-c",
        "true",
      ]);
      expect.soft(r.exitCode, describeRun(r)).not.toBe(0);
      expect
        .soft(String(r.stderr), `flags ${JSON.stringify(flags)}: ${describeRun(r)}`)
        .toMatch(/claude-sandbox doctor|max_user_namespaces/);
    }
  });
});
