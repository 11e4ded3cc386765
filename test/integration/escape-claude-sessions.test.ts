import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chown, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { claudeProjectKey, plantHome, privateClaudeDir } from "../helpers/claude-home.js";
import {
  describeRun,
  IDENTITIES,
  inSandbox,
  type LauncherFixture,
  useLauncherFixture,
} from "../helpers/launcher-harness.js";
import { requires } from "../helpers/requires.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root", "userns");

// Of the host's ~/.claude a sandbox sees this project's sessions (read-write, where the host's claude --resume
// finds them) and the user's configuration, read-only. Another project's sessions are not the sandbox's to read
// or write (they hold what was said and done there; a line written into one is read by the host's claude when the
// user resumes it), and scripts the host's claude runs stay read-only even when settings.json names them.

const fixtures = useLauncherFixture();

const plant = (f: LauncherFixture, rel: string, content: string) =>
  plantHome(f.home, f.user, path.join(".claude", rel), content);

describe.skipIf(missing).each(IDENTITIES)("Claude sessions, as %s", (_name, user) => {
  test("other projects' transcripts and file history are out of reach; this project's sessions persist", async () => {
    const fx = await fixtures.create(user());
    const f = fx;
    const secret = `other-project-secret-${randomBytes(6).toString("hex")}`;
    await plant(f, "projects/-home-someone-other-project/0b1c.jsonl", `{"message":"${secret}"}\n`);
    await plant(f, "file-history/0b1c/3f2a@v1", `${secret}\n`);
    const key = claudeProjectKey(f.project);
    const script = [
      "cd ~/.claude",
      "cat projects/*/*.jsonl file-history/*/* 2>/dev/null",
      "ls projects",
      `echo '{"type":"user"}' > projects/${key}/session.jsonl && echo own-session-written`,
      "(mkdir -p projects/-home-someone-other-project && echo injected > projects/-home-someone-other-project/0b1c.jsonl) && echo wrote-elsewhere-inside",
    ].join("; ");
    const r = await inSandbox(f, script);
    expect(r.exitCode, describeRun(r)).toBe(0);
    const out = String(r.stdout);
    expect(out).not.toContain(secret);
    expect(out.split("\n")).toEqual([key, "own-session-written", "wrote-elsewhere-inside", ""]);
    // The session landed where the host's claude (and the manager) look for it; the other project is untouched.
    expect(await readFile(path.join(f.home, ".claude", "projects", key, "session.jsonl"), "utf8")).toBe(
      '{"type":"user"}\n',
    );
    expect(
      await readFile(
        path.join(f.home, ".claude", "projects", "-home-someone-other-project", "0b1c.jsonl"),
        "utf8",
      ),
    ).toBe(`{"message":"${secret}"}\n`);
    // A sandbox's own file history persists for its next run, in the project's own ~/.claude.
    const again = await inSandbox(
      f,
      "mkdir -p ~/.claude/file-history/s && echo v1 > ~/.claude/file-history/s/f@v1",
    );
    expect(again.exitCode, describeRun(again)).toBe(0);
    const kept = await inSandbox(f, "cat ~/.claude/file-history/s/f@v1");
    expect(String(kept.stdout)).toBe("v1\n");
    expect(existsSync(path.join(f.home, ".claude", "file-history", "s"))).toBe(false);
    expect(existsSync(path.join(privateClaudeDir(f.state), "file-history", "s", "f@v1"))).toBe(true);
  });

  test("a project whose path is long and not ASCII gets Claude Code's own directory name", async () => {
    const fx = await fixtures.create(user(), `prøject-😀-${"n".repeat(210)}`);
    const key = claudeProjectKey(fx.project);
    expect(key.length).toBeGreaterThan(200);
    const r = await inSandbox(fx, "ls ~/.claude/projects");
    expect(String(r.stdout), describeRun(r)).toBe(`${key}\n`);
  });

  test("hook scripts settings.json names under ~/.claude stay read-only, and so does their directory", async () => {
    const fx = await fixtures.create(user());
    const f = fx;
    await plant(f, "hooks/pre.sh", "#!/bin/sh\nexit 0\n");
    await plant(
      f,
      "settings.json",
      JSON.stringify({
        hooks: { PreToolUse: [{ hooks: [{ type: "command", command: "~/.claude/hooks/pre.sh" }] }] },
      }),
    );
    const script = [
      "cd ~/.claude",
      "(echo 'touch /tmp/pwned' >> hooks/pre.sh) 2>/dev/null || echo script-read-only",
      "(echo x > hooks/new.sh) 2>/dev/null || echo dir-read-only",
      "mv hooks hooks.old 2>/dev/null || echo dir-kept",
    ].join("; ");
    const r = await inSandbox(f, script);
    expect(String(r.stdout), describeRun(r)).toBe("script-read-only\ndir-read-only\ndir-kept\n");
    expect(await readFile(path.join(f.home, ".claude", "hooks", "pre.sh"), "utf8")).toBe(
      "#!/bin/sh\nexit 0\n",
    );
  });

  test("scripts settings name under ~/.claude are read-only inside, in every quoting; one the host lacks is never made there", async () => {
    const f = await fixtures.create(user());
    // The forms Claude Code's own docs use in JSON: \"$CLAUDE_PROJECT_DIR\"/… and \"$HOME\"/….
    await plant(f, "guard.py", "print('guard')\n");
    await plant(
      f,
      "settings.json",
      JSON.stringify({
        statusLine: { type: "command", command: 'python3 "$HOME"/.claude/guard.py' },
        hooks: { Stop: [{ hooks: [{ type: "command", command: "$HOME/.claude/scripts/missing.sh" }] }] },
      }),
    );
    const projectSettings = path.join(f.project, ".claude", "settings.json");
    await mkdir(path.dirname(projectSettings), { recursive: true });
    await writeFile(
      projectSettings,
      JSON.stringify({
        hooks: {
          Stop: [{ hooks: [{ type: "command", command: '"$CLAUDE_PROJECT_DIR"/tools/hooks/stop.sh' }] }],
        },
      }),
    );
    await chown(path.dirname(projectSettings), f.user.uid, f.user.gid);
    const script = [
      "cat ~/.claude/guard.py",
      "(echo 'touch /tmp/pwned' > ~/.claude/guard.py) 2>/dev/null || echo guard-read-only",
      "(echo 'touch /tmp/pwned' > tools/hooks/stop.sh) 2>/dev/null || echo hook-read-only",
      // Missing on the host: what the sandbox writes there stays in the project's own ~/.claude.
      "mkdir -p ~/.claude/scripts && echo 'touch /tmp/pwned' > ~/.claude/scripts/missing.sh && echo missing-stays-inside",
      "mkdir -p ~/.claude/rules && echo x > ~/.claude/rules/team.md && echo rules-stay-inside",
    ].join("; ");
    const r = await inSandbox(f, script);
    expect(String(r.stdout), describeRun(r)).toBe(
      "print('guard')\nguard-read-only\nhook-read-only\nmissing-stays-inside\nrules-stay-inside\n",
    );
    expect(await readFile(path.join(f.home, ".claude", "guard.py"), "utf8")).toBe("print('guard')\n");
    expect(await readFile(path.join(f.project, "tools", "hooks", "stop.sh"), "utf8")).toBe("");
    expect(existsSync(path.join(f.home, ".claude", "scripts"))).toBe(false);
    expect(existsSync(path.join(f.home, ".claude", "rules"))).toBe(false);
    expect(existsSync(path.join(privateClaudeDir(f.state), "scripts", "missing.sh"))).toBe(true);
  });

  test("a protected entry that is the user's own symlink (dotfiles) shows its target, read-only", async () => {
    const f = await fixtures.create(user());
    await plant(f, "shared/CLAUDE.md", "# my instructions\n");
    const { symlink, lchown } = await import("node:fs/promises");
    const link = path.join(f.home, ".claude", "CLAUDE.md");
    await symlink("shared/CLAUDE.md", link);
    await lchown(link, f.user.uid, f.user.gid);
    const r = await inSandbox(
      f,
      "cat ~/.claude/CLAUDE.md; (echo x >> ~/.claude/CLAUDE.md) 2>/dev/null || echo read-only",
    );
    expect(String(r.stdout), describeRun(r)).toBe("# my instructions\nread-only\n");
    expect(await readFile(path.join(f.home, ".claude", "shared", "CLAUDE.md"), "utf8")).toBe(
      "# my instructions\n",
    );
  });
});
