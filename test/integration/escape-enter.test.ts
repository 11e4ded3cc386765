import { chmod, chown, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { execa } from "execa";
import { afterEach, describe, expect, test } from "vitest";
import { requires } from "../helpers/requires.js";
import { createTestCgroup, type TestCgroup } from "../helpers/sandbox-cgroup.js";
import { type SandboxFixture, useSandboxFixture } from "../helpers/sandbox-home.js";
import {
  describeRun,
  findProcesses,
  LAUNCHER,
  launcherEnv,
  REPO,
  runLauncher,
} from "../helpers/sandbox-launcher.js";
import { ensureTestUser, ROOT, type SandboxUser, userCommand } from "../helpers/sandbox-user.js";
import { holdsWithin } from "../helpers/wait.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root", "userns");

// Joining hands the caller's terminal to the sandbox: a ~/.bashrc the agent planted (or a hook of the agent run
// by launching again, or the agent's tmux server) starts a process that keeps the joined terminal, and once the
// join has returned it reads what the user types next into their own shell (a sudo password). The launcher gives
// joined shells a pty of their own, relayed from the caller's terminal, and ends everything a join started with it.
// The harness plays the user: it joins, leaves, and then types a secret for the shell that launched the join.

const PTY_SESSION = path.join(REPO, "test", "fixtures", "probe", "pty-session.py");

type Step = { wait: string } | { send: string } | { resize: [number, number] } | { sleep: number };

interface Setup {
  label: string;
  user: () => SandboxUser;
  /** A cgroup delegated to the user, as systemd's user manager gives one, to launch from. */
  delegated: boolean;
}

const setups: [string, Setup][] = [
  ["root", { label: "root", user: () => ROOT, delegated: false }],
  ["a user with a delegated cgroup", { label: "user", user: ensureTestUser, delegated: true }],
  ["a user without cgroup delegation", { label: "user", user: ensureTestUser, delegated: false }],
];

let cgroup: TestCgroup | undefined;
const fixtures = useSandboxFixture({
  beforeCleanup: async (fx) => {
    await runLauncher(fx, ["--stop", fx.project]);
  },
});
afterEach(async () => {
  await cgroup?.remove();
  cgroup = undefined;
});

/** argv for a command the user runs from their terminal (in the delegated cgroup when there is one). */
function asCaller(fx: SandboxFixture, file: string, args: string[]): [string, string[]] {
  const argv = userCommand(fx.owner, file, args);
  return cgroup ? cgroup.wrap(argv) : argv;
}

/**
 * Runs `claude-sandbox ARGS` on a pty of its own, following `steps`; returns what the terminal showed. The harness
 * runs as the user, so the terminal is theirs, as a real one would be.
 */
async function onTerminal(
  fx: SandboxFixture,
  launcherArgs: string[],
  steps: Step[],
  env = {},
): Promise<string> {
  const [file, args] = asCaller(fx, PTY_SESSION, ["40", JSON.stringify(steps), LAUNCHER, ...launcherArgs]);
  const r = await execa(file, args, {
    env: launcherEnv(fx, env),
    extendEnv: false,
    cwd: fx.project,
    reject: false,
    timeout: 50_000,
  });
  return `${String(r.stdout)}${String(r.stderr)}`;
}

/**
 * A ~/.bashrc for the sandbox's home: it starts a reader that waits until the shell that read the file has exited,
 * then copies whatever comes in on that shell's terminal to the project; and it says when it ran.
 */
function plantedBashrc(token: string, extra = ""): string {
  return [
    extra,
    "p=$$",
    `(setsid sh -c 'while kill -0 "$1" 2>/dev/null; do sleep 0.1; done; exec cat >"$2"' reader-${token} "$p" "$CLAUDE_SANDBOX_PROJECT_DIR/.stolen" <&0 >/dev/null 2>&1 &)`,
    `echo "JOINED-${token}"`,
    "",
  ].join("\n");
}

/** Starts the project's live sandbox, whose payload installs `bashrc` as the sandbox's ~/.bashrc. */
async function startLiveWith(fx: SandboxFixture, bashrc: string) {
  const plant = path.join(fx.project, ".plant-bashrc");
  await writeFile(plant, bashrc);
  await chown(plant, fx.owner.uid, fx.owner.gid);
  const marker = `sleep 300.${Math.floor(Math.random() * 1e9)}`;
  const [file, args] = asCaller(fx, LAUNCHER, [
    "--no-network",
    "--shell",
    fx.project,
    "--",
    "-c",
    `cp "$CLAUDE_SANDBOX_PROJECT_DIR/.plant-bashrc" ~/.bashrc && exec ${marker}`,
  ]);
  const live = execa(file, args, {
    env: launcherEnv(fx),
    extendEnv: false,
    cwd: fx.project,
    reject: false,
    timeout: 120_000,
  });
  const joinable = await holdsWithin(
    async () => (await runLauncher(fx, ["--enter", fx.project, "--", "-c", "true"])).exitCode === 0,
    20_000,
    100,
  );
  if (!joinable) {
    live.kill("SIGKILL");
    throw new Error(`the live sandbox did not start:\n${describeRun(await live)}`);
  }
  // In an object: returned bare, the process (a thenable) would be awaited to its end.
  return { live };
}

async function stolen(fx: SandboxFixture): Promise<string> {
  return readFile(path.join(fx.project, ".stolen"), "utf8").catch(() => "");
}

describe.skipIf(missing).each(setups)("joining from a terminal, as %s", (_name, setup) => {
  const joins: [string, (fx: SandboxFixture) => string[]][] = [
    ["--enter", (fx) => ["--enter", fx.project]],
    ["launching again", (fx) => ["--shell", fx.project]],
  ];

  test.each(joins)(
    "a process the joined shell leaves behind (%s) never reads what is typed after it",
    async (_how, join) => {
      const fx = await fixtures.create(setup.user());
      if (setup.delegated) cgroup = await createTestCgroup(fx.owner);
      const { live } = await startLiveWith(fx, plantedBashrc(fx.token));
      const secret = `sudo-password-${fx.token}`;
      const shown = await onTerminal(fx, join(fx), [
        { wait: `JOINED-${fx.token}` },
        { send: "exit\n" },
        { wait: "[exit:" },
        { send: `${secret}\n` },
      ]);
      expect(shown, "the join did not run the planted ~/.bashrc").toContain(`JOINED-${fx.token}`);
      expect
        .soft(await stolen(fx), `the left-behind process read the terminal:\n${shown}`)
        .not.toContain(secret);
      // The user's own shell got what they typed.
      expect.soft(shown).toContain(`OUTER_READ:[${secret}]`);
      if (setup.label === "root" || setup.delegated) {
        // Everything the join started ended with it (its cgroup was killed).
        const gone = await holdsWithin(
          async () => (await findProcesses(`reader-${fx.token}`)).length === 0,
          5_000,
        );
        expect.soft(gone, "the process the joined shell left behind still runs").toBe(true);
      }
      await runLauncher(fx, ["--stop", fx.project]);
      await live;
    },
  );

  test("an agent's tmux server holds no terminal of the caller once the attached client detached", async () => {
    const fx = await fixtures.create(setup.user());
    if (setup.delegated) cgroup = await createTestCgroup(fx.owner);
    // The agent takes the attached client's terminal, which the client hands its tmux server (the agent's), and
    // reads from it once the client has gone.
    const agent = path.join(fx.project, "grabbing-agent");
    await writeFile(
      agent,
      [
        "#!/bin/bash",
        'c=""; for _ in $(seq 200); do c=$(tmux list-clients -F "#{client_pid}" 2>/dev/null | head -n1); [ -n "$c" ] && break; sleep 0.05; done',
        's=$(tmux display-message -p "#{pid}"); t=""',
        'for f in /proc/"$s"/fd/*; do case $(readlink "$f") in /dev/pts/[0-9]*) t=$f ;; esac; done',
        `(setsid sh -c 'exec 3<"$2" || exit; while kill -0 "$1" 2>/dev/null; do sleep 0.1; done; exec cat <&3 >"$3"' reader-${fx.token} "$c" "$t" "$CLAUDE_SANDBOX_PROJECT_DIR/.stolen" >/dev/null 2>&1 &)`,
        `echo "AGENT-READY-${fx.token}"`,
        "exec sleep 300",
        "",
      ].join("\n"),
    );
    await chmod(agent, 0o755);
    await chown(agent, fx.owner.uid, fx.owner.gid);
    const secret = `sudo-password-${fx.token}`;
    const shown = await onTerminal(
      fx,
      ["--no-network", "--tmux", fx.project],
      [
        { wait: `AGENT-READY-${fx.token}` },
        { sleep: 0.5 },
        { send: "\u0002d" },
        { wait: "[exit:" },
        { send: `${secret}\n` },
      ],
      { CLAUDE_SANDBOX_AGENT: agent },
    );
    expect(shown, "the agent never ran in an attached session").toContain(`AGENT-READY-${fx.token}`);
    expect.soft(await stolen(fx), `the agent read the caller's terminal:\n${shown}`).not.toContain(secret);
    expect.soft(shown).toContain(`OUTER_READ:[${secret}]`);
  });
  test("the tmux client that attaches from the launching terminal holds no descriptor of a host path", async () => {
    const fx = await fixtures.create(setup.user());
    // A first --tmux launch sets the sandbox up and then attaches in the same process: bwrap's descriptors (host
    // files, the project's .claude directory) must not reach the client inside, where the agent can open them
    // through /proc and walk up out of a directory.
    const agent = path.join(fx.project, "walking-agent");
    await writeFile(
      agent,
      [
        "#!/bin/bash",
        'c=""; for _ in $(seq 200); do c=$(tmux list-clients -F "#{client_pid}" 2>/dev/null | head -n1); [ -n "$c" ] && break; sleep 0.05; done',
        'for f in /proc/"$c"/fd/*; do cat "$f/../../outside/secret.txt" "$f/../outside/secret.txt"; done >"$CLAUDE_SANDBOX_PROJECT_DIR/.leak" 2>/dev/null',
        `echo "AGENT-READY-${fx.token}"`,
        "exec sleep 300",
        "",
      ].join("\n"),
    );
    await chmod(agent, 0o755);
    await chown(agent, fx.owner.uid, fx.owner.gid);
    const shown = await onTerminal(
      fx,
      ["--no-network", "--tmux", fx.project],
      [{ wait: `AGENT-READY-${fx.token}` }, { send: "\u0002d" }, { wait: "[exit:" }],
      { CLAUDE_SANDBOX_AGENT: agent },
    );
    expect(shown, "the agent never ran in an attached session").toContain(`AGENT-READY-${fx.token}`);
    const leak = await readFile(path.join(fx.project, ".leak"), "utf8").catch(() => "");
    expect(leak, "the agent read a host file through the attached client's descriptors").not.toContain(
      fx.secretMarker,
    );
  });
});

describe.skipIf(missing).each([
  ["root", () => ROOT],
  ["unprivileged user", ensureTestUser],
] as [string, () => SandboxUser][])("an interactive joined shell, as %s", (_label, user) => {
  test("runs what is typed, follows resizes, passes Ctrl-C and raw keys on, and returns its exit status", async () => {
    const fx = await fixtures.create(user());
    const { live } = await startLiveWith(fx, `PS1='joined$ '\necho "READY-${fx.token}"\n`);
    const raw = `python3 -c 'import sys, tty; tty.setraw(0); k = sys.stdin.read(1); print("key=" + repr(k), end="\\r\\n")'`;
    const shown = await onTerminal(
      fx,
      ["--enter", fx.project],
      [
        { wait: `READY-${fx.token}` },
        { send: "echo typed-$((6 * 7))\n" },
        { wait: "typed-42" },
        { send: "stty size\n" },
        { wait: "24 80" },
        { resize: [40, 120] },
        { sleep: 0.3 },
        { send: "stty size\n" },
        { wait: "40 120" },
        { send: "sleep 30\n" },
        { sleep: 0.5 },
        { send: "\u0003" },
        { send: "echo status=$?\n" },
        { wait: "status=130" },
        { send: `${raw}\n` },
        { sleep: 1 },
        { send: "\u0003" },
        { wait: "key='\\x03'" },
        { send: "exit 7\n" },
        { wait: "[exit:7]" },
      ],
    );
    expect(shown).toContain("typed-42");
    expect(shown).toContain("40 120");
    expect(shown).toContain("status=130");
    expect(shown).toContain("key='\\x03'");
    expect(shown).toContain("[exit:7]");
    expect(shown).not.toContain("timed out");
    await runLauncher(fx, ["--stop", fx.project]);
    await live;
  });
});
