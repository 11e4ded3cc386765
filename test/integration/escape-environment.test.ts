import { randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { execa } from "execa";
import { describe, expect, test } from "vitest";
import {
  describeRun,
  IDENTITIES,
  inSandbox,
  launch,
  launcherEnv,
  startLive,
  useLauncherFixture,
} from "../helpers/launcher-harness.js";
import { requires } from "../helpers/requires.js";
import { LAUNCHER } from "../helpers/sandbox-launcher.js";
import { userCommand } from "../helpers/sandbox-user.js";
import { holdsWithin } from "../helpers/wait.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root", "userns");

// The sandbox's environment is the allowlist and nothing else, whatever the host environment holds, and the
// values that do cross (an API key) never appear on a command line, which every local user can read.

const fixtures = useLauncherFixture();

const token = () => randomBytes(8).toString("hex");

/** NAME=VALUE entries of `env -0` output, as a map. */
function parseEnv(out: unknown): Map<string, string> {
  const env = new Map<string, string>();
  for (const e of String(out).split("\0")) {
    const eq = e.indexOf("=");
    if (eq > 0) env.set(e.slice(0, eq), e.slice(eq + 1));
  }
  return env;
}

/** Host processes (outside the sandbox too) whose command line holds `needle`. */
async function cmdlinesHolding(needle: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir("/proc")).filter((p) => /^\d+$/.test(p))) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`).catch(() => Buffer.alloc(0));
    if (cmdline.includes(needle))
      found.push(`${pid}: ${cmdline.toString().replaceAll("\0", " ").slice(0, 160)}`);
  }
  return found;
}

describe.skipIf(missing).each(IDENTITIES)("environment, as %s", (_name, user) => {
  test("host variables whose names a shell cannot unset stay out of new and joined sandboxes", async () => {
    const fx = await fixtures.create(user());
    const secret = `odd-name-secret-${token()}`;
    // bash passes such entries through to every child and `export -n` cannot remove them.
    const env = { "AWS-SECRET.KEY": secret, "my secret": secret, ANTHROPIC_API_KEY: `key-${token()}` };
    const fresh = await inSandbox(fx, "env -0", {
      env,
    });
    expect(fresh.exitCode, describeRun(fresh)).toBe(0);
    expect(String(fresh.stdout)).not.toContain(secret);
    const freshEnv = parseEnv(fresh.stdout);
    expect(freshEnv.get("ANTHROPIC_API_KEY")).toBe(env.ANTHROPIC_API_KEY);
    expect(freshEnv.get("CLAUDE_SANDBOX")).toBe("1");

    const { live } = await startLive(fx, ["--no-network"], { env });
    const joined = await launch(
      fx,
      ["--enter", fx.project, "--", "-c", "env -0; echo; cat /proc/1/environ 2>/dev/null; true"],
      {
        env,
      },
    );
    expect(joined.exitCode, describeRun(joined)).toBe(0);
    expect(String(joined.stdout)).not.toContain(secret);
    const joinedEnv = parseEnv(String(joined.stdout).split("\n")[0]);
    // The joined shell gets the sandbox's own environment, recorded at its start.
    expect(joinedEnv.get("CLAUDE_SANDBOX")).toBe("1");
    expect(joinedEnv.get("ANTHROPIC_API_KEY")).toBe(env.ANTHROPIC_API_KEY);
    expect(joinedEnv.get("PATH")).toContain("/usr/bin");
    await launch(fx, ["--stop", fx.project]);
    await live;
  });

  test("an API key that crosses into the sandbox is on no command line, at launch or while joining", async () => {
    const fx = await fixtures.create(user());
    const apiKey = `sk-ant-${token()}`;
    const env = { ANTHROPIC_API_KEY: apiKey };
    const { live } = await startLive(fx, [], { env });
    const f = fx;
    const joining = launch(f, ["--enter", f.project, "--", "-c", `sleep 3.${process.pid}`], { env });
    const joinedUp = await holdsWithin(
      async () => (await cmdlinesHolding(`sleep 3.${process.pid}`)).length > 0,
      10_000,
    );
    expect(joinedUp, describeRun(await joining)).toBe(true);
    expect(await cmdlinesHolding(apiKey)).toEqual([]);
    const inside = await launch(f, ["--enter", f.project, "--", "-c", 'printf %s "$ANTHROPIC_API_KEY"'], {
      env,
    });
    expect(String(inside.stdout), describeRun(inside)).toBe(apiKey);
    expect((await joining).exitCode).toBe(0);
    await launch(f, ["--stop", f.project]);
    await live;
  });

  test("a large environment crosses whole, and nothing of it is left in the state dir", async () => {
    const fx = await fixtures.create(user());
    // Far beyond one pipe page: the launcher hands it over through a file it removes at once.
    const big = `${"x".repeat(100_000)}-${token()}`;
    const env = { LC_CLAUDE_SANDBOX_TEST: big };
    const script = 'printf %s "$LC_CLAUDE_SANDBOX_TEST"';
    const fresh = await inSandbox(fx, script, {
      env,
    });
    expect(fresh.exitCode, describeRun(fresh)).toBe(0);
    expect(String(fresh.stdout)).toBe(big);
    const { live } = await startLive(fx, ["--no-network"], { env });
    const joined = await launch(fx, ["--enter", fx.project, "--", "-c", script], { env });
    expect(String(joined.stdout), describeRun(joined)).toBe(big);
    await launch(fx, ["--stop", fx.project]);
    await live;
    expect((await readdir(fx.state)).filter((n) => n.startsWith(".data"))).toEqual([]);
  });

  test("the caller's session keyring (Kerberos tickets, disk keys) can be neither read nor cleared", async () => {
    const fx = await fixtures.create(user());
    const secret = `keyring-secret-${token()}`;
    // The caller puts a key into its session keyring, then becomes the launcher: what a login session holds.
    const withKey = [
      "import ctypes, os, sys",
      "libc = ctypes.CDLL(None, use_errno=True)",
      "kid = libc.syscall(248, b'user', b'csbx-test-key', sys.argv[1].encode(), len(sys.argv[1]), -3)",
      "assert kid > 0, ctypes.get_errno()",
      "os.execv(sys.argv[2], sys.argv[2:])",
    ].join("\n");
    const probe = [
      "import ctypes",
      "libc = ctypes.CDLL(None, use_errno=True)",
      "libc.syscall.restype = ctypes.c_long",
      "kid = libc.syscall(250, 10, -3, b'user', b'csbx-test-key', 0)",
      "buf = ctypes.create_string_buffer(256)",
      "n = libc.syscall(250, 11, kid, buf, 256) if kid > 0 else -1",
      "print('read' if n > 0 else 'no-read', buf.value.decode(errors='replace'))",
      "print('cleared' if libc.syscall(250, 7, -3) == 0 else 'not-cleared')",
    ].join("\n");
    const [file, args] = userCommand(fx.user, "python3", [
      "-c",
      withKey,
      secret,
      LAUNCHER,
      "--new",
      "--no-network",
      "--shell",
      fx.project,
      "--",
      "-c",
      'python3 -c "$1"',
      "probe",
      probe,
    ]);
    const r = await execa(file, args, {
      env: launcherEnv(fx),
      extendEnv: false,
      cwd: fx.project,
      reject: false,
    });
    expect(r.exitCode, describeRun(r)).toBe(0);
    expect(String(r.stdout)).not.toContain(secret);
    expect(String(r.stdout)).toBe("no-read \nnot-cleared");
  });

  test("a joined shell is as restricted as the sandbox: no capabilities, the same seccomp filter", async () => {
    const fx = await fixtures.create(user());
    const { live } = await startLive(fx, ["--no-network"]);
    const script =
      'grep -E "^(CapEff|Seccomp):" /proc/self/status; python3 -c "import ctypes; print(ctypes.CDLL(None).syscall(250, 0, -3, 0))"';
    const joined = await launch(fx, ["--enter", fx.project, "--", "-c", script]);
    expect(String(joined.stdout), describeRun(joined)).toBe("CapEff:\t0000000000000000\nSeccomp:\t2\n-1\n");
    await launch(fx, ["--stop", fx.project]);
    await live;
  });

  test("a descriptor the caller leaves open does not reach the sandbox", async () => {
    const fx = await fixtures.create(user());
    const secret = `fd-secret-${token()}`;
    const file = `${fx.root}/caller-secret`;
    const { writeFile, chown } = await import("node:fs/promises");
    await writeFile(file, `${secret}\n`, { mode: 0o600 });
    await chown(file, fx.user.uid, fx.user.gid);
    const [cmd, args] = userCommand(fx.user, "bash", [
      "-c",
      'exec 9<"$1"; shift; exec "$@"',
      "caller",
      file,
      LAUNCHER,
      "--new",
      "--no-network",
      "--shell",
      fx.project,
      "--",
      "-c",
      "cat <&9 2>/dev/null; ls /proc/self/fd | tr '\\n' ' '",
    ]);
    const r = await execa(cmd, args, {
      env: launcherEnv(fx),
      extendEnv: false,
      cwd: fx.project,
      reject: false,
    });
    expect(String(r.stdout), describeRun(r)).not.toContain(secret);
    // stdin, stdout, stderr and ls's own directory fd, nothing else.
    expect(String(r.stdout).trim().split(" ")).toEqual(["0", "1", "2", "3"]);
  });
});
