import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { execa } from "execa";
import { afterEach, describe, expect, test } from "vitest";
import { requires } from "../helpers/requires.js";
import { LAUNCHER, pathWith } from "../helpers/sandbox-launcher.js";
import { asUser, ensureTestUser, ROOT, type SandboxUser } from "../helpers/sandbox-user.js";
import { startXvfb, type XDisplay } from "../helpers/sandbox-xvfb.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root", "userns", "chromium");

// `claude-sandbox doctor` on this machine: the core checks pass (as root and as a user), problems come with a
// pasteable fix, --json is one object per check, and the exit status says whether anything FAILed.

interface Check {
  check: string;
  status: "ok" | "warn" | "fail";
  detail: string;
  fix: string;
}

const BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

let tmp: string | undefined;
let xvfb: XDisplay | undefined;
afterEach(async () => {
  await xvfb?.stop();
  xvfb = undefined;
  if (tmp) await rm(tmp, { recursive: true, force: true });
  tmp = undefined;
});

/** A temp dir the test user can traverse (mkdtemp makes it 0700 for root). */
async function makeTmp(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "csbx-doctor-"));
  await chmod(dir, 0o755);
  return dir;
}

async function doctor(user: SandboxUser, args: string[], env: Record<string, string> = {}) {
  tmp ??= await makeTmp();
  // A HOME the user owns, as a real one would be (doctor checks the state dir under it can be created).
  const home = path.join(tmp, `home-${user.uid}`);
  await mkdir(home, { recursive: true });
  await chown(home, user.uid, user.gid);
  const prefix = asUser(user);
  const argv = [...prefix, LAUNCHER, "doctor", ...args];
  const r = await execa(argv[0] as string, argv.slice(1), {
    env: { PATH: BASE_PATH, HOME: home, ...env },
    extendEnv: false,
    cwd: tmp,
    reject: false,
    timeout: 30_000,
  });
  return r;
}

function parseChecks(stdout: string): Check[] {
  return stdout
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Check);
}

const users: [string, () => SandboxUser][] = [
  ["root", () => ROOT],
  ["unprivileged user", ensureTestUser],
];

describe.skipIf(missing).each(users)("doctor, as %s", (_label, user) => {
  test("passes the core checks on this machine, one JSON object per check", async () => {
    const r = await doctor(user(), ["--json"], { CLAUDE_SANDBOX_AGENT: "/usr/bin/true" });
    const checks = parseChecks(String(r.stdout));
    const by = new Map(checks.map((c) => [c.check, c]));
    for (const name of ["userns.max", "bwrap", "network-helper", "agent", "chromium", "jq"]) {
      expect.soft(by.get(name)?.status, `${name}: ${JSON.stringify(by.get(name))}`).toBe("ok");
    }
    // No DISPLAY: headless use is fine, so a warning with a fix, never a failure.
    expect.soft(by.get("display")).toMatchObject({ status: "warn" });
    expect.soft(by.get("display")?.fix).toMatch(/Xvfb|DISPLAY/);
    expect(r.exitCode, String(r.stderr)).toBe(0);
  });

  test("human output: one line per check and a verdict", async () => {
    const r = await doctor(user(), [], { CLAUDE_SANDBOX_AGENT: "/usr/bin/true" });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stdout)).toMatch(/^ok\s+bwrap\s/m);
    expect(String(r.stdout)).toMatch(/^warn\s+display\s/m);
    expect(String(r.stdout)).toMatch(/^\s+fix: /m);
    expect(String(r.stdout)).toContain("this machine can run claude-sandbox");
  });

  test("a reachable display is ok; a wrong cookie is explained", async () => {
    const u = user();
    tmp ??= await makeTmp();
    xvfb = await startXvfb(u, tmp, "320x240x24");
    const good = parseChecks(
      String((await doctor(u, ["--json"], { DISPLAY: xvfb.display, XAUTHORITY: xvfb.xauthority })).stdout),
    );
    expect(good.find((c) => c.check === "display")).toMatchObject({ status: "ok" });
    const empty = path.join(tmp, "empty-xauth");
    await writeFile(empty, "");
    await chown(empty, u.uid, u.gid);
    const bad = parseChecks(
      String((await doctor(u, ["--json"], { DISPLAY: xvfb.display, XAUTHORITY: empty })).stdout),
    );
    const display = bad.find((c) => c.check === "display");
    expect(display?.status).toBe("warn");
    expect(display?.detail).toContain(xvfb.display);
    expect(display?.fix).toMatch(/XAUTHORITY|xauth/);
  });

  test("a missing agent FAILs with the install command and the override", async () => {
    const r = await doctor(user(), ["--json"], { CLAUDE_SANDBOX_AGENT: "no-such-agent-9f3" });
    const agent = parseChecks(String(r.stdout)).find((c) => c.check === "agent");
    expect(agent).toMatchObject({ status: "fail" });
    expect(agent?.detail).toContain("no-such-agent-9f3");
    expect(agent?.fix).toContain("CLAUDE_SANDBOX_AGENT");
    expect(r.exitCode).toBe(1);
  });
});

describe.skipIf(missing)("doctor on a machine without the tools", () => {
  test("a state dir the user cannot create FAILs with a way out", async () => {
    const user = ensureTestUser();
    const r = await doctor(user, ["--json"], {
      HOME: "/nonexistent-home",
      CLAUDE_SANDBOX_AGENT: "/usr/bin/true",
    });
    const state = parseChecks(String(r.stdout)).find((c) => c.check === "state-dir");
    expect(state).toMatchObject({ status: "fail" });
    expect(state?.detail).toContain("/nonexistent-home/.local/state/claude-sandbox");
    expect(state?.fix).toContain("XDG_STATE_HOME");
    expect(r.exitCode).toBe(1);
  });

  test("missing bwrap, pasta, ip and jq each FAIL with the package to install", async () => {
    tmp = await makeTmp();
    // A PATH with what any system has, but none of the sandbox's tools.
    const bin = await pathWith(tmp, [
      "bash",
      "cat",
      "id",
      "tr",
      "timeout",
      "readlink",
      "true",
      "env",
      "xdpyinfo",
      "tmux",
    ]);
    const r = await execa(
      path.join(bin, "bash"),
      [path.join(path.dirname(LAUNCHER), "doctor.sh"), "--json"],
      {
        env: { PATH: bin, HOME: tmp, CLAUDE_SANDBOX_AGENT: "true" },
        extendEnv: false,
        reject: false,
      },
    );
    const checks = new Map(parseChecks(String(r.stdout)).map((c) => [c.check, c]));
    expect(checks.get("bwrap")).toMatchObject({ status: "fail" });
    expect(checks.get("bwrap")?.fix).toContain("apt-get install -y bubblewrap");
    expect(checks.get("network-helper")).toMatchObject({ status: "fail" });
    expect(checks.get("network-helper")?.fix).toContain("passt");
    expect(checks.get("jq")).toMatchObject({ status: "fail" });
    expect(checks.get("jq")?.fix).toContain("apt-get install -y jq");
    expect(checks.get("iproute2")).toMatchObject({ status: "fail" });
    expect(checks.get("iproute2")?.fix).toContain("apt-get install -y iproute2");
    expect(r.exitCode).toBe(1);
  });

  test("Debian's clone switch off and Ubuntu's AppArmor restriction on are named, with their fixes", async () => {
    tmp = await makeTmp();
    const sys = path.join(tmp, "sys");
    await mkdir(path.join(sys, "user"), { recursive: true });
    await mkdir(path.join(sys, "kernel"), { recursive: true });
    await writeFile(path.join(sys, "user", "max_user_namespaces"), "15000\n");
    await writeFile(path.join(sys, "kernel", "unprivileged_userns_clone"), "0\n");
    await writeFile(path.join(sys, "kernel", "apparmor_restrict_unprivileged_userns"), "1\n");
    const r = await doctor(ensureTestUser(), ["--json"], {
      CLAUDE_SANDBOX_DOCTOR_SYSCTL_DIR: sys,
      CLAUDE_SANDBOX_AGENT: "/usr/bin/true",
    });
    const checks = new Map(parseChecks(String(r.stdout)).map((c) => [c.check, c]));
    expect(checks.get("userns.debian-clone")).toMatchObject({ status: "fail" });
    expect(checks.get("userns.debian-clone")?.fix).toContain("sysctl -w kernel.unprivileged_userns_clone=1");
    expect(checks.get("userns.apparmor")?.status).toBe("warn");
    expect(checks.get("userns.apparmor")?.fix).toMatch(
      /apparmor_parser|apparmor_restrict_unprivileged_userns=0/,
    );
    expect(r.exitCode).toBe(1);
  });

  test("a display without xauth is a warning: the whole cookie file would cross", async () => {
    tmp = await makeTmp();
    // Everything doctor uses from PATH except xauth.
    const bin = await pathWith(tmp, [
      "bash",
      "cat",
      "id",
      "tr",
      "timeout",
      "readlink",
      "true",
      "env",
      "bwrap",
      "pasta",
      "jq",
    ]);
    const r = await execa(
      path.join(bin, "bash"),
      [path.join(path.dirname(LAUNCHER), "doctor.sh"), "--json"],
      {
        env: { PATH: bin, HOME: tmp, DISPLAY: ":0", CLAUDE_SANDBOX_AGENT: "true" },
        extendEnv: false,
        reject: false,
      },
    );
    const xauth = parseChecks(String(r.stdout)).find((c) => c.check === "xauth");
    expect(xauth).toMatchObject({ status: "warn" });
    expect(xauth?.fix).toContain("apt-get install -y xauth");
  });

  test("run inside a sandbox, it says so", async () => {
    const r = await doctor(ROOT, ["--json"], { CLAUDE_SANDBOX: "1", CLAUDE_SANDBOX_AGENT: "/usr/bin/true" });
    expect(parseChecks(String(r.stdout)).find((c) => c.check === "inside-sandbox")).toMatchObject({
      status: "warn",
    });
  });

  test("an unknown option is a usage error", async () => {
    const r = await doctor(ROOT, ["--frobnicate"]);
    expect(r.exitCode).toBe(2);
    expect(String(r.stderr)).toContain("unknown option '--frobnicate'");
  });
});
