import { existsSync } from "node:fs";
import { chmod, chown, writeFile } from "node:fs/promises";
import path from "node:path";
import { execa } from "execa";
import { describe, expect, test } from "vitest";
import { requires } from "../helpers/requires.js";
import { useSandboxFixture } from "../helpers/sandbox-home.js";
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

// --tmux: the agent's tmux server runs inside the sandbox, and the user attaches to it. The server decides
// what an attached client does, and `detach-client -E CMD` makes the *client* exec CMD. If the attaching client
// runs on the host, an agent that owns the server runs CMD on the host as the user: an escape. The attack here
// writes a file into a host dir the sandbox cannot see; it must never appear.

const PTY_RUN = path.join(REPO, "test", "fixtures", "probe", "pty-run.py");

const users: [string, () => SandboxUser][] = [
  ["unprivileged user", ensureTestUser],
  ["root", () => ROOT],
];

const fixtures = useSandboxFixture({
  beforeCleanup: async (fx) => {
    await runLauncher(fx, ["--stop", fx.project]);
  },
});

describe.skipIf(missing).each(users)("tmux attach, as %s", (_label, user) => {
  test("an agent that owns the tmux server cannot make the attached client run a host command", async () => {
    const fx = await fixtures.create(user());
    const pwned = path.join(fx.outside, `pwned-${fx.token}`);
    const agent = path.join(fx.project, "evil-agent");
    // Waits for a client to attach, then tells every client to detach and exec a command.
    await writeFile(
      agent,
      [
        "#!/bin/bash",
        'for _ in $(seq 100); do [ -n "$(tmux list-clients 2>/dev/null)" ] && break; sleep 0.1; done',
        'echo "clients: $(tmux list-clients 2>&1)" > "$(dirname "$0")/agent-saw"',
        `tmux detach-client -a -E "touch ${pwned}" 2>>"$(dirname "$0")/agent-saw"`,
        `tmux detach-client -E "touch ${pwned}" 2>>"$(dirname "$0")/agent-saw"`,
        "sleep 5",
        "",
      ].join("\n"),
    );
    await chmod(agent, 0o755);
    await chown(agent, fx.owner.uid, fx.owner.gid);
    const [file, args] = userCommand(fx.owner, LAUNCHER, ["--no-network", "--tmux", fx.project]);
    const r = await execa(PTY_RUN, ["30", file, ...args], {
      env: launcherEnv(fx, { CLAUDE_SANDBOX_AGENT: agent }),
      extendEnv: false,
      cwd: fx.project,
      reject: false,
      timeout: 40_000,
    });
    const saw = await import("node:fs/promises").then((fs) =>
      fs.readFile(path.join(fx?.project ?? "", "agent-saw"), "utf8").catch(() => "(agent never ran)"),
    );
    // The attack only means something if a client was attached when the agent struck.
    expect(saw, `${describeRun(r)}`).toMatch(/clients: \S/);
    expect(existsSync(pwned), `the tmux client ran the agent's command on the host\nagent: ${saw}`).toBe(
      false,
    );
  });

  test("--stop ends the agent's tmux server and lets the attached client go", async () => {
    const fx = await fixtures.create(user());
    const f = fx;
    const marker = `300.${Math.floor(Math.random() * 1e9)}`;
    const agent = path.join(f.project, "sleepy-agent");
    await writeFile(agent, `#!/bin/bash\nexec sleep ${marker}\n`);
    await chmod(agent, 0o755);
    await chown(agent, f.owner.uid, f.owner.gid);
    const [file, args] = userCommand(f.owner, LAUNCHER, ["--no-network", "--tmux", f.project]);
    const attached = execa(PTY_RUN, ["40", file, ...args], {
      env: launcherEnv(f, { CLAUDE_SANDBOX_AGENT: agent }),
      extendEnv: false,
      cwd: f.project,
      reject: false,
      timeout: 50_000,
    });
    const sleepers = async () =>
      (await findProcesses(`sleep ${marker}`)).filter((p) => p.cmdline.startsWith("sleep "));
    expect(await holdsWithin(async () => (await sleepers()).length > 0, 20_000), "the agent never ran").toBe(
      true,
    );
    const stop = await runLauncher(f, ["--stop", f.project]);
    expect(stop.exitCode, describeRun(stop)).toBe(0);
    const gone = await holdsWithin(
      async () => (await sleepers()).length === 0 && (await findProcesses(f.root)).length === 0,
      10_000,
    );
    const left = (await findProcesses(f.root)).map((p) => `${p.pid} ${p.cmdline.slice(0, 100)}`);
    expect(gone, `left after --stop:\n${left.join("\n")}`).toBe(true);
    const r = await attached;
    expect(r.timedOut, "the attached tmux client hung after the sandbox stopped").toBe(false);
  });
});
