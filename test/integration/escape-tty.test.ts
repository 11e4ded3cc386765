import { readFileSync } from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { describe, expect, test } from "vitest";
import { requires } from "../helpers/requires.js";
import { type SandboxFixture, useSandboxFixture } from "../helpers/sandbox-home.js";
import { findProcesses, LAUNCHER, launcherEnv, REPO, runLauncher } from "../helpers/sandbox-launcher.js";
import { installProbe, parseProbe } from "../helpers/sandbox-probe.js";
import { ensureTestUser, ROOT, type SandboxUser, userCommand } from "../helpers/sandbox-user.js";
import { holdsWithin } from "../helpers/wait.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root", "userns");

// TIOCSTI: a process sharing the caller's terminal session can push bytes into its input queue, which the
// user's shell then runs after the sandbox exits. The launcher runs bwrap with --new-session so the sandbox has
// no controlling terminal; the control case proves this harness sees an injection when one happens.

const PTY_RUN = path.join(REPO, "test", "fixtures", "probe", "pty-run.py");

const users: [string, () => SandboxUser][] = [
  ["root", () => ROOT],
  ["unprivileged user", ensureTestUser],
];

const fixtures = useSandboxFixture();

function legacyTiocstiAllowed(): boolean {
  try {
    return readFileSync("/proc/sys/dev/tty/legacy_tiocsti", "utf8").trim() !== "0";
  } catch {
    return true; // kernels before 6.2 have no switch and always allow it
  }
}

async function onPty(fx: SandboxFixture, argv: string[]) {
  const [file, args] = userCommand(fx.owner, argv[0] as string, argv.slice(1));
  return execa(PTY_RUN, ["40", file, ...args], {
    env: launcherEnv(fx),
    extendEnv: false,
    cwd: fx.project,
    reject: false,
    timeout: 50_000,
  });
}

describe.skipIf(missing).each(users)("terminal injection, as %s", (_label, user) => {
  test("control: without a sandbox the harness sees TIOCSTI reach the outer shell", async () => {
    const fx = await fixtures.create(user());
    const payload = `echo INJECTED-${fx.token}\n`;
    const bashArgs = await installProbe(fx, { tiocstiPayload: payload }, ["tty"], "tty-control");
    const r = await onPty(fx, ["/bin/bash", ...bashArgs]);
    const out = String(r.stdout);
    const tiocsti = parseProbe(out).find((x) => x.name === "tiocsti");
    if (legacyTiocstiAllowed()) {
      expect(tiocsti?.blocked, out).toBe(false);
      expect(out, "the harness did not see the injected line").toContain(
        `OUTER_READ:[echo INJECTED-${fx.token}]`,
      );
    } else {
      // The kernel itself refuses TIOCSTI (dev.tty.legacy_tiocsti=0), which is a block too.
      expect(tiocsti?.blocked, out).toBe(true);
    }
  });

  test("a sandbox cannot push input into the caller's terminal", async () => {
    const fx = await fixtures.create(user());
    const payload = `echo INJECTED-${fx.token}\n`;
    const bashArgs = await installProbe(fx, { tiocstiPayload: payload }, ["tty"], "tty");
    const r = await onPty(fx, [LAUNCHER, "--new", "--no-network", "--shell", fx.project, "--", ...bashArgs]);
    const out = String(r.stdout);
    const tiocsti = parseProbe(out).find((x) => x.name === "tiocsti");
    expect(tiocsti, `the probe did not run:\n${out}\n${String(r.stderr)}`).toBeDefined();
    expect.soft(tiocsti?.blocked, `TIOCSTI from inside: ${tiocsti?.detail}`).toBe(true);
    expect.soft(out, "the outer shell read nothing").toContain("OUTER_READ:[]");
    expect.soft(out).not.toContain(`OUTER_READ:[echo INJECTED-${fx.token}]`);
  });

  test("nor can a shell joined with --enter (e.g. run from a ~/.bashrc the agent planted)", async () => {
    const fx = await fixtures.create(user());
    const f = fx;
    const payload = `echo INJECTED-${f.token}\n`;
    const bashArgs = await installProbe(f, { tiocstiPayload: payload }, ["tty"], "tty-enter");
    const marker = `300.${Math.floor(Math.random() * 1e9)}`;
    const live = runLauncher(f, ["--no-network", "--shell", f.project, "--", "-c", `sleep ${marker}`], {
      timeoutMs: 60_000,
    });
    const started = await holdsWithin(
      async () => (await findProcesses(`sleep ${marker}`)).some((p) => p.cmdline.startsWith("sleep ")),
      20_000,
    );
    expect(started, "the live sandbox did not start").toBe(true);
    const r = await onPty(f, [LAUNCHER, "--enter", f.project, "--", ...bashArgs]);
    const out = String(r.stdout);
    const tiocsti = parseProbe(out).find((x) => x.name === "tiocsti");
    expect(tiocsti, `the probe did not run:\n${out}`).toBeDefined();
    expect.soft(tiocsti?.blocked, `TIOCSTI from a joined shell: ${tiocsti?.detail}`).toBe(true);
    expect.soft(out).toContain("OUTER_READ:[]");
    expect.soft(out).not.toContain(`OUTER_READ:[echo INJECTED-${f.token}]`);
    await runLauncher(f, ["--stop", f.project]);
    await live;
  });
});
