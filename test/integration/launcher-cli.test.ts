import { chown, mkdir, readFile, stat, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, test } from "vitest";
import {
  describeRun,
  IDENTITIES,
  inSandbox,
  launch,
  useLauncherFixture,
} from "../helpers/launcher-harness.js";
import { requires } from "../helpers/requires.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root", "userns");

// The command line and the per-project state dir: what a user sees before any agent runs.

const fixtures = useLauncherFixture();

describe.skipIf(missing).each(IDENTITIES)("claude-sandbox command line, as %s", (_name, user) => {
  test("--help prints usage on stdout and exits 0", async () => {
    const fx = await fixtures.create(user());
    for (const flag of ["--help", "-h"]) {
      const r = await launch(fx, [flag]);
      expect(r.exitCode, describeRun(r)).toBe(0);
      expect(String(r.stdout)).toMatch(
        /^Usage: claude-sandbox \[OPTIONS\] \[PROJECT-DIR\] \[-- AGENT-ARGS\.\.\.\]/,
      );
      for (const opt of [
        "--shell",
        "--tmux",
        "--gh-token",
        "--no-network",
        "--enter",
        "--new",
        "--stop",
        "--ssh-keys",
      ]) {
        expect(String(r.stdout)).toContain(opt);
      }
    }
  });

  test("an unknown option exits 2 and says to put agent arguments after --", async () => {
    const fx = await fixtures.create(user());
    const r = await launch(fx, ["--model", "opus", fx.project]);
    expect(r.exitCode, describeRun(r)).toBe(2);
    expect(String(r.stderr)).toContain("unknown option '--model'");
    expect(String(r.stderr)).toContain("after '--'");
    expect(String(r.stdout)).toBe("");
    // A second positional argument is refused too, instead of being silently handed to the agent.
    const r2 = await launch(fx, [fx.project, "extra"]);
    expect(r2.exitCode, describeRun(r2)).toBe(2);
    expect(String(r2.stderr)).toContain("after '--'");
  });

  test("a project dir that is missing, a file, or contains HOME is refused with the reason", async () => {
    const fx = await fixtures.create(user());
    const missing = await launch(fx, ["--shell", path.join(fx.root, "nope"), "--", "-c", "true"]);
    expect(missing.exitCode).toBe(1);
    expect(String(missing.stderr)).toContain("does not exist");
    const file = path.join(fx.project, "a-file");
    await writeFile(file, "x");
    const notDir = await launch(fx, ["--shell", file, "--", "-c", "true"]);
    expect(notDir.exitCode).toBe(1);
    expect(String(notDir.stderr)).toContain("is not a directory");
    const home = await launch(fx, ["--shell", fx.root, "--", "-c", "true"]);
    expect(home.exitCode, describeRun(home)).toBe(1);
    expect(String(home.stderr)).toContain("refusing project dir");
  });

  test("host system dirs and dirs holding host sockets are refused as project dirs, and nothing runs", async () => {
    const fx = await fixtures.create(user());
    // An SSH agent socket dir inside a would-be project: binding the project would hand over the agent dir.
    const agentDir = path.join(fx.project, "ssh-agent-dir");
    await mkdir(agentDir);
    for (const [dir, reason, env] of [
      ["/etc", /part of the host system \(\/etc\)/, {}],
      ["/usr/share", /part of the host system \(\/usr\)/, {}],
      ["/run", /part of the host system \(\/run\)/, {}],
      // The fixture's HOME is under /tmp too, which may be the reason given first.
      ["/tmp", /is or holds \/tmp|contains \/tmp\//, {}],
      ["/var", /is or holds \/var/, {}],
      [fx.project, /is or holds .*ssh-agent-dir/, { SSH_AUTH_SOCK: path.join(agentDir, "agent.1") }],
    ] as const) {
      const r = await launch(fx, ["--new", "--no-network", "--shell", dir, "--", "-c", "echo RAN"], { env });
      expect(r.exitCode, `${dir}: ${describeRun(r)}`).toBe(1);
      expect(String(r.stdout), dir).not.toContain("RAN");
      expect(String(r.stderr), dir).toMatch(/refusing project dir/);
      expect(String(r.stderr), dir).toMatch(reason);
    }
  });

  test("--enter without a live sandbox exits 1 and says how to start one; --stop says there is none", async () => {
    const fx = await fixtures.create(user());
    const enter = await launch(fx, ["--enter", fx.project]);
    expect(enter.exitCode, describeRun(enter)).toBe(1);
    expect(String(enter.stderr)).toContain(`no live sandbox for ${fx.project}; start one with`);
    const stop = await launch(fx, ["--stop", fx.project]);
    expect(stop.exitCode, describeRun(stop)).toBe(0);
    expect(String(stop.stdout)).toContain(`No live sandbox for ${fx.project}`);
  });

  test("the state dir follows the seed's layout, is private, and detects a hash collision", async () => {
    const fx = await fixtures.create(user(), "my project!");
    const r = await inSandbox(fx, "true", { flags: ["--no-network"] });
    expect(r.exitCode, describeRun(r)).toBe(0);
    // basename with unsafe characters replaced, then 12 hex of sha256(path + "\n")
    expect(path.basename(fx.state)).toMatch(/^my-project--[0-9a-f]{12}$/);
    expect(await readFile(path.join(fx.state, "path"), "utf8")).toBe(`${fx.project}\n`);
    const tag = await readFile(path.join(fx.stateHome, "claude-sandbox", "CACHEDIR.TAG"), "utf8");
    expect(tag.startsWith("Signature: 8a477f597d28d172789f06886806bc55")).toBe(true);
    for (const d of ["chromium", "local/bin", "local/lib", "local/share", "tmux.d"]) {
      const st = await stat(path.join(fx.state, d));
      expect(st.isDirectory(), d).toBe(true);
      expect(st.uid, d).toBe(fx.user.uid);
    }
    expect((await stat(path.join(fx.stateHome, "claude-sandbox"))).mode & 0o777).toBe(0o700);
    expect((await stat(path.join(fx.state, "tmux.d"))).mode & 0o777).toBe(0o700);
    expect(await readFile(path.join(fx.state, "tmux.conf"), "utf8")).toContain("colour208");

    // Another project whose name hashes here (simulated by rewriting `path`) must not share the state.
    await writeFile(path.join(fx.state, "path"), "/somewhere/else\n");
    const clash = await inSandbox(fx, "true", { flags: ["--no-network"] });
    expect(clash.exitCode, describeRun(clash)).toBe(1);
    expect(String(clash.stderr)).toContain("state directory hash collision");
  });

  test("the user's tmux.conf edits are kept across launches", async () => {
    const fx = await fixtures.create(user());
    const first = await inSandbox(fx, "true", { flags: ["--no-network"] });
    expect(first.exitCode, describeRun(first)).toBe(0);
    await writeFile(path.join(fx.state, "tmux.conf"), "set -g status-style bg=blue\n");
    const again = await inSandbox(fx, "true", { flags: ["--no-network"] });
    expect(again.exitCode, describeRun(again)).toBe(0);
    expect(await readFile(path.join(fx.state, "tmux.conf"), "utf8")).toBe("set -g status-style bg=blue\n");
  });

  test("a seccomp filter cached by another install is rebuilt, even when that cache looks newer", async () => {
    const fx = await fixtures.create(user());
    // What an upgrade through Nix leaves: a cache from the old store path, newer than every file of the new one
    // (store files carry mtime 1). Here the stale cache is a filter that allows everything.
    const root = path.join(fx.stateHome, "claude-sandbox");
    await mkdir(root, { recursive: true, mode: 0o700 });
    const allowAll = Buffer.from([0x06, 0, 0, 0, 0, 0, 0xff, 0x7f]);
    await writeFile(path.join(root, "seccomp.bpf"), allowAll);
    await writeFile(
      path.join(root, "seccomp.bpf.from"),
      "/nix/store/0ld-claude-sandbox/launcher/bubblewrap/lib/seccomp.sh\n",
    );
    const future = new Date(Date.now() + 3600_000);
    for (const f of ["seccomp.bpf", "seccomp.bpf.from", "."]) {
      await utimes(path.join(root, f), future, future);
      await chown(path.join(root, f), fx.user.uid, fx.user.gid);
    }
    // keyctl(KEYCTL_CLEAR, session keyring): refused by the current filter, allowed by the stale one.
    const probe = "import ctypes; print(ctypes.CDLL(None).syscall(250, 7, -3))";
    const r = await inSandbox(fx, `python3 -c "${probe}"`);
    expect(r.exitCode, describeRun(r)).toBe(0);
    expect(String(r.stdout)).toBe("-1\n");
    expect((await stat(path.join(root, "seccomp.bpf"))).size).toBeGreaterThan(allowAll.length);
  });
});
