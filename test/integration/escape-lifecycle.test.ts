import { existsSync } from "node:fs";
import { chmod, chown, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { execa } from "execa";
import { describe, expect, test } from "vitest";
import { requires } from "../helpers/requires.js";
import { type SandboxFixture, useSandboxFixture } from "../helpers/sandbox-home.js";
import {
  describeRun,
  findProcesses,
  LAUNCHER,
  launcherEnv,
  runLauncher,
} from "../helpers/sandbox-launcher.js";
import { ensureTestUser, ROOT, type SandboxUser, userCommand } from "../helpers/sandbox-user.js";
import { holdsWithin } from "../helpers/wait.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root", "userns");

// The positive side of isolation: what an agent needs must work. The project is writable, the agent runs with
// its arguments, git sees its config, --enter lands in the same sandbox (processes, files and network), and
// --stop leaves no process behind. Plus the per-project /tmp lives under a private directory.

const users: [string, () => SandboxUser][] = [
  ["root", () => ROOT],
  ["unprivileged user", ensureTestUser],
];

const fixtures = useSandboxFixture();

/** pid and the start of the command line of each process, for failure messages. */
function brief(ps: { pid: number; cmdline: string }[]): string {
  return ps.map((p) => `${p.pid} ${p.cmdline.slice(0, 120)}…`).join("\n");
}

/** A unique sleep argument, so the test can find exactly its own processes. */
function sleepMarker(): string {
  return `300.${Math.floor(Math.random() * 1e9)}`;
}

async function sleepers(marker: string) {
  return (await findProcesses(`sleep ${marker}`)).filter((p) => p.cmdline.startsWith("sleep "));
}

describe.skipIf(missing).each(users)("lifecycle, as %s", (_label, user) => {
  test("the project is writable, git sees its config, CLAUDE_SANDBOX=1, /tmp is private", async () => {
    const fx = await fixtures.create(user());
    const script = [
      'echo written > "$1/from-inside.txt"',
      'printf "git=%s\\n" "$(git config user.name)"',
      'printf "sandbox=%s\\n" "$CLAUDE_SANDBOX"',
      'printf "home=%s\\n" "$HOME"',
      'printf "pwd=%s\\n" "$PWD"',
      'touch "/tmp/tmp-marker-$2"',
      'printf "tmpfs=%s\\n" "$(stat -f -c %T /tmp)"',
    ].join("; ");
    const r = await runLauncher(fx, [
      "--new",
      "--no-network",
      "--shell",
      fx.project,
      "--",
      "-c",
      script,
      "sh",
      fx.project,
      fx.token,
    ]);
    expect(r.exitCode, describeRun(r)).toBe(0);
    const out = String(r.stdout);
    expect.soft(out, describeRun(r)).toContain("git=Escape Test");
    expect.soft(out, describeRun(r)).toContain("sandbox=1");
    expect.soft(out, describeRun(r)).toContain(`home=${fx.home}\n`);
    expect.soft(out, describeRun(r)).toContain(`pwd=${fx.project}\n`);
    const written = path.join(fx.project, "from-inside.txt");
    expect.soft(await readFile(written, "utf8")).toBe("written\n");
    expect.soft((await stat(written)).uid, "files the agent writes belong to the user").toBe(fx.owner.uid);

    // /tmp is the sandbox's own (sized) tmpfs: what is written there reaches neither the host's /tmp nor the
    // host's disk, so no other user can reach it.
    expect.soft(out, describeRun(r)).toContain("tmpfs=tmpfs\n");
    const found = await findFile(path.join(fx.home, ".local", "state"), `tmp-marker-${fx.token}`);
    expect.soft(found, "the sandbox's /tmp is on the host's disk").toBeUndefined();
    expect
      .soft(await readFile(path.join("/tmp", `tmp-marker-${fx.token}`)).catch(() => "absent"))
      .toBe("absent");
  });

  test("the agent runs with its arguments, from CLAUDE_SANDBOX_AGENT", async () => {
    const fx = await fixtures.create(user());
    const agent = path.join(fx.project, "fixture-agent");
    await writeFile(agent, '#!/bin/bash\nprintf "%s\\n" "$@" > "$(dirname "$0")/agent-args"\n');
    await chmod(agent, 0o755);
    await chown(agent, fx.owner.uid, fx.owner.gid);
    const args = ["--model", "opus", "two words", "--", "$HOME;`id`"];
    const r = await runLauncher(fx, ["--new", "--no-network", fx.project, "--", ...args], {
      env: { CLAUDE_SANDBOX_AGENT: agent },
    });
    expect(r.exitCode, describeRun(r)).toBe(0);
    const got = (await readFile(path.join(fx.project, "agent-args"), "utf8")).split("\n").slice(0, -1);
    expect(got, "the agent must get exactly the args after '--', unexpanded").toEqual(args);
  });

  test("default agent is claude, given the sandbox notice and then the user's args; ~/.local/bin persists", async () => {
    const fx = await fixtures.create(user());
    // Install a fake `claude` the way an agent would install a tool: into ~/.local/bin, from inside.
    const install = [
      'mkdir -p "$HOME/.local/bin"',
      `printf '%s\\n' '#!/bin/bash' 'printf "%s\\0" "$@" > "$PWD/claude-args"' > "$HOME/.local/bin/claude"`,
      'chmod +x "$HOME/.local/bin/claude"',
    ].join(" && ");
    const r1 = await runLauncher(fx, ["--new", "--no-network", "--shell", fx.project, "--", "-c", install]);
    expect(r1.exitCode, describeRun(r1)).toBe(0);
    const r2 = await runLauncher(fx, ["--new", "--no-network", fx.project, "--", "--model", "opus"]);
    expect(r2.exitCode, describeRun(r2)).toBe(0);
    const args = (await readFile(path.join(fx.project, "claude-args"), "utf8")).split("\0").slice(0, -1);
    const at = args.indexOf("--append-system-prompt");
    expect(at, `claude args: ${JSON.stringify(args)}`).toBeGreaterThanOrEqual(0);
    expect(args[at + 1] ?? "", "the notice tells the agent it is sandboxed").toMatch(/sandbox/i);
    expect(args.slice(-2), "the user's args come last, unchanged").toEqual(["--model", "opus"]);
  });

  test("SSH works through the forwarded agent socket, without the key file", async () => {
    const fx = await fixtures.create(user());
    const f = fx;
    const key = path.join(f.outside, "agent-key");
    await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `csbx-${f.token}`, "-f", key]);
    await chown(key, f.owner.uid, f.owner.gid);
    const sock = path.join(f.outside, "ssh-agent.sock");
    const [agentFile, agentArgs] = userCommand(f.owner, "ssh-agent", ["-D", "-a", sock]);
    const agent = execa(agentFile, agentArgs, { reject: false, stdio: "ignore" });
    try {
      expect(await holdsWithin(async () => existsSync(sock), 10_000), "ssh-agent did not start").toBe(true);
      const [addFile, addArgs] = userCommand(f.owner, "ssh-add", [key]);
      await execa(addFile, addArgs, { env: { SSH_AUTH_SOCK: sock }, stdio: "ignore" });
      const r = await runLauncher(
        f,
        ["--new", "--no-network", "--shell", f.project, "--", "-c", "ssh-add -l"],
        {
          env: { SSH_AUTH_SOCK: sock },
        },
      );
      expect(r.exitCode, describeRun(r)).toBe(0);
      expect(String(r.stdout), describeRun(r)).toContain(`csbx-${f.token}`);
    } finally {
      agent.kill("SIGKILL");
      await agent;
    }
  });

  test("the agent's exit status is the launcher's", async () => {
    const fx = await fixtures.create(user());
    const r = await runLauncher(fx, ["--new", "--no-network", "--shell", fx.project, "--", "-c", "exit 37"]);
    expect(r.exitCode, describeRun(r)).toBe(37);
  });

  test("--enter lands in the same sandbox; --stop leaves no process", async () => {
    const fx = await fixtures.create(user());
    const f = fx;
    const marker = sleepMarker();
    // Background children and a setsid'd grandchild: --stop must end them all, not just the first pid.
    const script = `readlink /proc/self/ns/net > /tmp/live-netns; echo $$ > /tmp/live-pid; sleep ${marker} & (setsid sleep ${marker} &); exec sleep ${marker}`;
    const live = runLauncher(f, ["--no-network", "--shell", f.project, "--", "-c", script], {
      timeoutMs: 100_000,
    });
    let liveEnded = false;
    void live.then(() => {
      liveEnded = true;
    });
    await holdsWithin(async () => liveEnded || (await sleepers(marker)).length >= 3, 20_000);
    if (liveEnded) expect.fail(`the live sandbox ended early:\n${describeRun(await live)}`);

    const check =
      'printf "netns-same=%s\\n" "$([ "$(readlink /proc/self/ns/net)" = "$(cat /tmp/live-netns)" ] && echo yes || echo no)"; ' +
      'printf "sleepers=%s\\n" "$(ps -eo args | grep -c "^sleep $1")"';
    const entered = await runLauncher(f, ["--enter", f.project, "--", "-c", check, "sh", marker]);
    expect(entered.exitCode, describeRun(entered)).toBe(0);
    expect.soft(String(entered.stdout), describeRun(entered)).toContain("netns-same=yes");
    expect.soft(String(entered.stdout), describeRun(entered)).toContain("sleepers=3");

    // A plain relaunch (no --new) joins instead of starting a second sandbox.
    const joined = await runLauncher(f, ["--shell", f.project, "--", "-c", "cat /tmp/live-pid"]);
    expect.soft(joined.exitCode, describeRun(joined)).toBe(0);
    expect.soft(String(joined.stdout).trim(), describeRun(joined)).toMatch(/^\d+$/);

    const stop = await runLauncher(f, ["--stop", f.project]);
    expect(stop.exitCode, describeRun(stop)).toBe(0);
    const gone = await holdsWithin(async () => (await sleepers(marker)).length === 0, 10_000);
    expect(gone, `processes left after --stop: ${brief(await sleepers(marker))}`).toBe(true);
    const ended = await live;
    expect(ended.timedOut, describeRun(ended)).toBe(false);
    const left = await findProcesses(f.project);
    expect(left, "host processes of the sandbox left after --stop").toEqual([]);
  });

  test("with network, --stop also ends the network helper", async () => {
    const fx = await fixtures.create(user());
    const f = fx;
    const marker = sleepMarker();
    const live = runLauncher(f, ["--shell", f.project, "--", "-c", `exec sleep ${marker}`], {
      timeoutMs: 100_000,
    });
    let liveEnded = false;
    void live.then(() => {
      liveEnded = true;
    });
    await holdsWithin(async () => liveEnded || (await sleepers(marker)).length > 0, 20_000);
    if (liveEnded) expect.fail(`the live sandbox ended early:\n${describeRun(await live)}`);
    const helpers = (await findProcesses(f.root)).filter((p) => /pasta|slirp4netns/.test(p.cmdline));
    expect(helpers.length, "no network helper found for a sandbox with network").toBeGreaterThan(0);
    const stop = await runLauncher(f, ["--stop", f.project]);
    expect(stop.exitCode, describeRun(stop)).toBe(0);
    const gone = await holdsWithin(async () => (await findProcesses(f.root)).length === 0, 10_000);
    expect(gone, `left after --stop: ${brief(await findProcesses(f.root))}`).toBe(true);
    await live;
  });

  for (const network of [false, true]) {
    test(`--die-with-parent${network ? "" : " --no-network"}: the sandbox ends when its caller is killed`, async () => {
      const fx = await fixtures.create(user());
      const f = fx;
      const marker = sleepMarker();
      // The caller is a bash that does not exec the launcher, like a manager process that spawned it.
      const flags = ["--die-with-parent", "--new", ...(network ? [] : ["--no-network"])];
      const caller = runLauncherVia(f, flags, marker);
      await holdsWithin(async () => (await sleepers(marker)).length > 0, 20_000);
      expect((await sleepers(marker)).length, "the sandbox did not start").toBeGreaterThan(0);
      process.kill(caller.pid as number, "SIGKILL");
      await caller;
      const gone = await holdsWithin(async () => (await findProcesses(f.root)).length === 0, 10_000);
      expect(gone, `left after the caller died: ${brief(await findProcesses(f.root))}`).toBe(true);
    });
  }

  test("concurrent first launches in a fresh HOME all start", async () => {
    const fx = await fixtures.create(user());
    const f = fx;
    const runs = await Promise.all(
      [1, 2, 3].map(() =>
        runLauncher(f, ["--new", "--no-network", "--shell", f.project, "--", "-c", "true"]),
      ),
    );
    for (const r of runs) expect.soft(r.exitCode, describeRun(r)).toBe(0);
  });
});

/** bash -c 'launcher FLAGS --shell DIR -- -c "sleep MARKER"; true' as the fixture's owner (bash stays the parent). */
function runLauncherVia(f: SandboxFixture, flags: string[], marker: string) {
  const [file, args] = userCommand(f.owner, "bash", [
    "-c",
    '"$@"; true',
    "caller",
    LAUNCHER,
    ...flags,
    "--shell",
    f.project,
    "--",
    "-c",
    `sleep ${marker}`,
  ]);
  // No pipes: a sandbox that outlives its caller must not keep this promise pending through them.
  return execa(file, args, {
    env: launcherEnv(f),
    extendEnv: false,
    cwd: f.project,
    reject: false,
    timeout: 60_000,
    stdio: "ignore",
  });
}

async function findFile(dir: string, name: string): Promise<string | undefined> {
  const { readdir } = await import("node:fs/promises");
  let entries: import("node:fs").Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return undefined;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.name === name) return p;
    if (e.isDirectory()) {
      const found = await findFile(p, name);
      if (found) return found;
    }
  }
  return undefined;
}
