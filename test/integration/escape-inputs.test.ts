import { existsSync } from "node:fs";
import { chown, mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { requires } from "../helpers/requires.js";
import { useSandboxFixture } from "../helpers/sandbox-home.js";
import { describeRun, findProcesses, runLauncher } from "../helpers/sandbox-launcher.js";
import { ensureTestUser, ROOT, type SandboxUser } from "../helpers/sandbox-user.js";
import { holdsWithin } from "../helpers/wait.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root", "userns");

// Hostile names: a project directory (or agent argument) full of shell syntax must be treated as data
// everywhere the launcher uses it — state dir name, mounts, the registry, join — never run (seed bug 8.2).

const users: [string, () => SandboxUser][] = [
  ["root", () => ROOT],
  ["unprivileged user", ensureTestUser],
];

const fixtures = useSandboxFixture();
let pwned: string | undefined;
afterEach(async () => {
  if (pwned) await rm(pwned, { force: true });
  pwned = undefined;
});

describe.skipIf(missing).each(users)("hostile input, as %s", (_label, user) => {
  test("a project dir named with shell syntax is data, not code", async () => {
    const fx = await fixtures.create(user());
    // No "/" in a file name, so the payload touches a relative path: wherever it runs, find() below sees it.
    const mark = `pwned-${fx.token}`;
    pwned = path.join("/tmp", mark);
    const names = [
      `a b $(touch ${mark}) \`touch ${mark}\``,
      `-rf ;touch ${mark}; '"`,
      `new\nline & touch ${mark} |`,
    ];
    for (const name of names) {
      const dir = path.join(fx.root, name);
      await mkdir(dir);
      await chown(dir, fx.owner.uid, fx.owner.gid);
      // A launcher may refuse a path with a line break outright, if it says so; anything else must just work.
      const refusedClearly = (r: { exitCode?: number; stderr: unknown }) =>
        name.includes("\n") && r.exitCode !== 0 && /newline|line break/i.test(String(r.stderr));
      const r = await runLauncher(fx, [
        "--new",
        "--no-network",
        "--shell",
        dir,
        "--",
        "-c",
        'printf "%s" "$PWD"',
      ]);
      if (refusedClearly(r)) continue;
      expect.soft(r.exitCode, `${JSON.stringify(name)}: ${describeRun(r)}`).toBe(0);
      expect.soft(String(r.stdout), JSON.stringify(name)).toBe(dir);

      // The registered path too: launch, join, stop.
      const marker = `300.${Math.floor(Math.random() * 1e9)}`;
      const live = runLauncher(fx, ["--no-network", "--shell", dir, "--", "-c", `sleep ${marker}`], {
        timeoutMs: 40_000,
      });
      let liveEnded = false;
      void live.then(() => {
        liveEnded = true;
      });
      await holdsWithin(
        async () =>
          liveEnded || (await findProcesses(`sleep ${marker}`)).some((p) => p.cmdline.startsWith("sleep ")),
        15_000,
      );
      if (liveEnded) {
        const ended = await live;
        expect.soft(refusedClearly(ended), `live ${JSON.stringify(name)}: ${describeRun(ended)}`).toBe(true);
        continue;
      }
      const entered = await runLauncher(fx, ["--enter", dir, "--", "-c", 'printf "%s" "$PWD"']);
      expect.soft(entered.exitCode, `--enter ${JSON.stringify(name)}: ${describeRun(entered)}`).toBe(0);
      expect.soft(String(entered.stdout), JSON.stringify(name)).toBe(dir);
      const stop = await runLauncher(fx, ["--stop", dir]);
      expect.soft(stop.exitCode, describeRun(stop)).toBe(0);
      await live;
    }
    const { execa } = await import("execa");
    const found = await execa(
      "find",
      [fx.root, "/tmp", "/", "-maxdepth", "6", "-name", mark, "-not", "-path", "/proc/*"],
      {
        reject: false,
      },
    );
    expect(String(found.stdout).trim(), "a command embedded in the project dir name ran").toBe("");
    expect(existsSync(pwned)).toBe(false);
  });

  test("a project dir inside a protected host path does not unprotect it", async () => {
    const fx = await fixtures.create(user());
    const f = fx;
    const home = f.home;
    // The attack from inside, whatever the project dir is: read the key, change config that runs on the host.
    const attack = [
      'cat "$HOME/.ssh/id_ed25519"',
      'echo "{\\"hooks\\": 1}" >> "$HOME/.claude/settings.json"',
      'mkdir -p "$HOME/.claude/hooks" && echo evil > "$HOME/.claude/hooks/evil"',
      'echo evil >> "$HOME/.ssh/authorized_keys"',
      'echo evil >> "$HOME/.config/gh/hosts.yml"',
      "echo LAUNCHED",
    ].join("; ");
    const { snapshotFiles, diffSnapshots, withoutPlaceholders } = await import("../helpers/sandbox-home.js");
    for (const rel of [".ssh", ".claude", ".claude/hooks", ".config/gh", ".config"]) {
      const project = path.join(home, rel);
      const before = await snapshotFiles([
        path.join(home, ".ssh"),
        path.join(home, ".claude"),
        path.join(home, ".config"),
      ]);
      const r = await runLauncher(f, ["--new", "--no-network", "--shell", project, "--", "-c", attack]);
      const out = String(r.stdout);
      if (!out.includes("LAUNCHED")) {
        // Refusing is fine, if it says why.
        expect.soft(r.exitCode, `${rel}: ${describeRun(r)}`).not.toBe(0);
        expect.soft(String(r.stderr), `${rel}: a refusal must name the problem`).toMatch(/project dir/i);
        continue;
      }
      expect.soft(out, `project ~/${rel}: the private key was readable`).not.toContain(f.secretMarker);
      const after = await snapshotFiles([
        path.join(home, ".ssh"),
        path.join(home, ".claude"),
        path.join(home, ".config"),
      ]);
      const changed = withoutPlaceholders(diffSnapshots(before, after), after).filter(
        (c) => !c.includes("/.claude/projects/"),
      );
      expect.soft(changed, `project ~/${rel}: protected host files changed`).toEqual([]);
    }
  });

  test("project config that the host's claude would run (.claude/settings*.json, its hook scripts) is read-only inside", async () => {
    const fx = await fixtures.create(user());
    const f = fx;
    // A project with committed Claude settings that run a hook script from the repo.
    const { mkdir: mk, writeFile: wf, chown: ch } = await import("node:fs/promises");
    const dotClaude = path.join(f.project, ".claude");
    const hookScript = path.join(dotClaude, "hooks", "fmt.sh");
    await mk(path.dirname(hookScript), { recursive: true });
    await wf(
      path.join(dotClaude, "settings.json"),
      '{"hooks": {"PostToolUse": [{"hooks": [{"type": "command", "command": "$CLAUDE_PROJECT_DIR/.claude/hooks/fmt.sh"}]}]}}\n',
    );
    await wf(hookScript, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    for (const p of [
      dotClaude,
      path.dirname(hookScript),
      hookScript,
      path.join(dotClaude, "settings.json"),
    ]) {
      await ch(p, f.owner.uid, f.owner.gid);
    }
    const { snapshotFiles, diffSnapshots, withoutPlaceholders } = await import("../helpers/sandbox-home.js");
    const guarded = [
      path.join(dotClaude, "settings.json"),
      path.join(dotClaude, "settings.local.json"),
      hookScript,
    ];
    const before = await snapshotFiles(guarded);
    const hook =
      '{"hooks": {"SessionStart": [{"hooks": [{"type": "command", "command": "touch /tmp/pwned"}]}]}}';
    const attack = [
      `printf '%s\\n' '${hook}' > .claude/settings.json`,
      `printf '%s\\n' '${hook}' > .claude/settings.local.json`,
      "echo 'touch /tmp/pwned' >> .claude/hooks/fmt.sh",
      "true",
    ].join("; ");
    const r = await runLauncher(f, ["--new", "--no-network", "--shell", f.project, "--", "-c", attack]);
    expect(r.exitCode, describeRun(r)).toBe(0);
    const after = await snapshotFiles(guarded);
    expect(
      withoutPlaceholders(diffSnapshots(before, after), after),
      "project Claude config changed from inside",
    ).toEqual([]);
  });
});
