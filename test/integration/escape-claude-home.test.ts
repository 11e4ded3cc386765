import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chown, mkdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { claudeProjectKey, plantHome, privateClaudeDir } from "../helpers/claude-home.js";
import {
  describeRun,
  IDENTITIES,
  inSandbox,
  installAgent,
  type LauncherFixture,
  launch,
  useLauncherFixture,
} from "../helpers/launcher-harness.js";
import { requires } from "../helpers/requires.js";
import { chownTree, diffSnapshots, snapshotFiles } from "../helpers/sandbox-home.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root", "userns");

// The host's ~/.claude is what the host's claude reads as configuration, and part of it runs: a global
// .config.json (its MCP servers start without asking), workflows, a local claude install, and whatever Claude Code
// adds next. A sandbox must not be able to write any of it, nor leave anything another project's sandbox reads;
// and what the host keeps there about every project (the prompt history, other projects' sessions, the login) is
// not the sandbox's to read. Each attack runs inside a real sandbox; the host's files decide.

const fixtures = useLauncherFixture();

/** A second project next to the fixture's, owned by its user. */
async function otherProject(f: LauncherFixture, name = "other-project"): Promise<string> {
  const dir = path.join(f.root, name);
  await mkdir(dir);
  await chown(dir, f.user.uid, f.user.gid);
  return dir;
}

/** `bash -c SCRIPT` in a new sandbox of `project` (not the fixture's own). */
function inProject(f: LauncherFixture, project: string, script: string, env: Record<string, string> = {}) {
  return launch(f, ["--new", "--no-network", "--shell", project, "--", "-c", script], { env });
}

const plant = (f: LauncherFixture, rel: string, content: string) => plantHome(f.home, f.user, rel, content);

describe.skipIf(missing).each(IDENTITIES)("the host's ~/.claude, as %s", (_name, user) => {
  test("what a sandbox writes to ~/.claude (.config.json with an MCP server, workflows, themes, agent-memory, local, a new dotfile, history) reaches neither the host nor another project's sandbox", async () => {
    const f = await fixtures.create(user());
    const token = randomBytes(6).toString("hex");
    await plant(f, ".claude/settings.json", '{"permissions":{"allow":[]}}\n');
    await plant(f, ".claude/CLAUDE.md", "# the user's instructions\n");
    await plant(f, ".claude/agents/reviewer.md", "# reviewer\n");
    await plant(f, ".claude/history.jsonl", '{"display":"a host prompt"}\n');
    const claude = path.join(f.home, ".claude");
    const key = claudeProjectKey(f.project);
    const before = await snapshotFiles([claude]);
    // What the host's `claude mcp list` (or any interactive claude) would run, as the user, on the host.
    const pwned = path.join(f.root, `pwned-${token}`);
    const config = JSON.stringify({
      mcpServers: { x: { type: "stdio", command: "/bin/sh", args: ["-c", `touch ${pwned}`] } },
    });
    const attack = [
      "set -e",
      "cd ~/.claude",
      `printf '%s\\n' '${config}' > .config.json`,
      "mkdir -p workflows themes agent-memory/reviewer local",
      `echo 'steps: [] # ${token}' > workflows/w.yaml`,
      `echo '{"name":"${token}"}' > themes/t.json`,
      `echo 'remember ${token}' > agent-memory/reviewer/MEMORY.md`,
      `printf '#!/bin/sh\\ntouch ${pwned}\\n' > local/claude && chmod +x local/claude`,
      `echo ${token} > .brand-new-dotfile`,
      `echo '{"display":"A-prompt-${token}"}' >> history.jsonl`,
      `echo '{"type":"user"}' > projects/${key}/a.jsonl`,
      "echo written",
    ].join("\n");
    const a = await inSandbox(f, attack);
    expect(String(a.stdout), describeRun(a)).toBe("written\n");

    // The host's ~/.claude: only this project's session file is new.
    const changed = diffSnapshots(before, await snapshotFiles([claude]));
    expect(changed, "host ~/.claude changed by the sandbox").toEqual([
      `created ${path.join(claude, "projects", key, "a.jsonl")}`,
    ]);
    expect(existsSync(pwned)).toBe(false);

    // Another project's sandbox sees none of it.
    const other = await otherProject(f);
    const files = [
      ".config.json",
      "workflows/w.yaml",
      "themes/t.json",
      "agent-memory/reviewer/MEMORY.md",
      "local/claude",
      ".brand-new-dotfile",
    ];
    const look = [
      `for p in ${files.join(" ")}; do [ -e ~/.claude/$p ] && echo "sees $p"; done`,
      `grep -rl ${token} ~/.claude 2>/dev/null`,
      "echo looked",
    ].join("; ");
    const b = await inProject(f, other, look);
    expect(String(b.stdout), describeRun(b)).toBe("looked\n");

    // The same project's next sandbox finds what its agent wrote.
    const again = await inSandbox(
      f,
      "cat ~/.claude/agent-memory/reviewer/MEMORY.md; tail -n 1 ~/.claude/history.jsonl",
    );
    expect(String(again.stdout), describeRun(again)).toBe(
      `remember ${token}\n{"display":"A-prompt-${token}"}\n`,
    );
    expect(existsSync(path.join(privateClaudeDir(f.state), ".config.json"))).toBe(true);
  });

  test("the user's settings.json, CLAUDE.md and agents are readable inside and read-only", async () => {
    const f = await fixtures.create(user());
    await plant(f, ".claude/settings.json", '{"theme":"dark"}\n');
    await plant(f, ".claude/CLAUDE.md", "# the user's instructions\n");
    await plant(f, ".claude/agents/reviewer.md", "# reviewer\n");
    const script = [
      "cat ~/.claude/settings.json ~/.claude/CLAUDE.md ~/.claude/agents/reviewer.md",
      "(echo x >> ~/.claude/settings.json) 2>/dev/null || echo settings-read-only",
      "(echo x >> ~/.claude/CLAUDE.md) 2>/dev/null || echo claude-md-read-only",
      "(echo x > ~/.claude/agents/new.md) 2>/dev/null || echo agents-read-only",
      "mv ~/.claude/agents ~/.claude/agents.old 2>/dev/null || echo agents-kept",
      "(echo '{}' > ~/.claude/s.tmp && mv ~/.claude/s.tmp ~/.claude/settings.json) 2>/dev/null || echo settings-kept",
    ].join("; ");
    const r = await inSandbox(f, script);
    expect(String(r.stdout), describeRun(r)).toBe(
      [
        '{"theme":"dark"}',
        "# the user's instructions",
        "# reviewer",
        "settings-read-only",
        "claude-md-read-only",
        "agents-read-only",
        "agents-kept",
        "settings-kept",
        "",
      ].join("\n"),
    );
    expect(await readFile(path.join(f.home, ".claude", "settings.json"), "utf8")).toBe('{"theme":"dark"}\n');
  });

  test("the host's prompt history, other projects' sessions, todos and file history, and its login are not readable inside", async () => {
    const f = await fixtures.create(user());
    const secret = `host-secret-${randomBytes(6).toString("hex")}`;
    for (const rel of [
      "history.jsonl",
      "projects/-home-someone-other/0b1c.jsonl",
      "todos/0b1c-agent-0b1c.json",
      "file-history/0b1c/3f2a@v1",
      "shell-snapshots/snapshot-bash-1795000000000-abc123.sh",
      "session-env/0b1c/hook-1.sh",
      "plans/plan.md",
      "debug/0b1c.txt",
      ".credentials.json",
      "unknown-entry-of-next-year/data",
    ]) {
      await plant(f, `.claude/${rel}`, `{"secret":"${secret}"}\n`);
    }
    const key = claudeProjectKey(f.project);
    const r = await inSandbox(
      f,
      `grep -r ${secret} ~/.claude ~/.claude.json 2>/dev/null; ls -A ~/.claude/projects; echo end`,
    );
    expect(r.exitCode, describeRun(r)).toBe(0);
    expect(String(r.stdout)).not.toContain(secret);
    expect(String(r.stdout)).toBe(`${key}\nend\n`);
  });

  test("~/.claude.json inside holds this project's entry and the user's settings, not other projects' entries", async () => {
    const f = await fixtures.create(user());
    const secret = `mcp-token-${randomBytes(6).toString("hex")}`;
    const other = "/home/someone/other-project";
    const hostConfig = {
      numStartups: 3,
      mcpServers: { everywhere: { command: "mcp-everywhere" } },
      projects: {
        [f.project]: { allowedTools: ["Bash(make:*)"] },
        [`${f.project}/sub`]: { allowedTools: [] },
        [`${f.project}-sibling`]: { history: [{ display: secret }] },
        [other]: { mcpServers: { db: { command: "mcp-db", env: { DB_TOKEN: secret } } } },
      },
      githubRepoPaths: { "o/this": [f.project], "o/other": [other] },
    };
    await plant(f, ".claude.json", `${JSON.stringify(hostConfig, null, 2)}\n`);
    const r = await inSandbox(f, "cat ~/.claude.json");
    expect(r.exitCode, describeRun(r)).toBe(0);
    expect(String(r.stdout)).not.toContain(secret);
    expect(JSON.parse(String(r.stdout))).toEqual({
      numStartups: 3,
      mcpServers: { everywhere: { command: "mcp-everywhere" } },
      projects: {
        [f.project]: { allowedTools: ["Bash(make:*)"] },
        [`${f.project}/sub`]: { allowedTools: [] },
      },
      githubRepoPaths: { "o/this": [f.project] },
    });
    // A newer host file is what the next launch copies.
    const file = path.join(f.home, ".claude.json");
    await writeFile(file, JSON.stringify({ numStartups: 4 }));
    const later = new Date(Date.now() + 5_000);
    await utimes(file, later, later);
    const again = await inSandbox(f, "cat ~/.claude.json");
    expect(JSON.parse(String(again.stdout)), describeRun(again)).toEqual({ numStartups: 4 });
  });

  test("~/.config/gh/hosts.yml (gh's token) is readable only with --gh-token", async () => {
    const f = await fixtures.create(user());
    const token = `gho_${randomBytes(12).toString("hex")}`;
    await plant(f, ".config/gh/hosts.yml", `github.com:\n    oauth_token: ${token}\n    user: someone\n`);
    await plant(f, ".config/gh/config.yml", "git_protocol: ssh\n");
    const script = [
      "cat ~/.config/gh/hosts.yml 2>/dev/null || echo no-hosts",
      "cat ~/.config/gh/config.yml",
      "(echo x >> ~/.config/gh/config.yml) 2>/dev/null || echo config-read-only",
    ].join("; ");
    const without = await inSandbox(f, script);
    expect(String(without.stdout), describeRun(without)).toBe(
      "no-hosts\ngit_protocol: ssh\nconfig-read-only\n",
    );
    const withToken = await inSandbox(f, script, { flags: ["--new", "--no-network", "--gh-token"] });
    expect(String(withToken.stdout), describeRun(withToken)).toContain(`oauth_token: ${token}`);
    expect(String(withToken.stdout)).toContain("config-read-only");
  });

  test("a project keeps a Claude login of its own: the host's is neither readable nor changed, and another project does not get it", async () => {
    const f = await fixtures.create(user());
    const hostLogin = `{"claudeAiOauth":{"refreshToken":"host-${randomBytes(6).toString("hex")}"}}\n`;
    const cred = await plant(f, ".claude/.credentials.json", hostLogin);
    const first = await inSandbox(
      f,
      "cat ~/.claude/.credentials.json 2>/dev/null || echo no-login; echo '{\"own\":1}' > ~/.claude/.credentials.json",
      { flags: ["--new", "--no-network"] },
    );
    expect(String(first.stdout), describeRun(first)).toBe("no-login\n");
    expect(await readFile(cred, "utf8")).toBe(hostLogin);
    const again = await inSandbox(f, "cat ~/.claude/.credentials.json");
    expect(String(again.stdout), describeRun(again)).toBe('{"own":1}\n');
    const b = await inProject(
      f,
      await otherProject(f),
      "cat ~/.claude/.credentials.json 2>/dev/null || echo no-login",
    );
    expect(String(b.stdout), describeRun(b)).toBe("no-login\n");
  });

  test("the agent's first start says once that the project logs in on its own; CLAUDE_CODE_OAUTH_TOKEN passes in", async () => {
    const f = await fixtures.create(user());
    await plant(f, ".claude/.credentials.json", '{"claudeAiOauth":{}}\n');
    await installAgent(f, path.join(f.state, "local", "bin", "claude"));
    const run = () => launch(f, ["--new", "--no-network", f.project]);
    const first = await run();
    expect(first.exitCode, describeRun(first)).toBe(0);
    expect(String(first.stderr)).toContain("keeps a Claude login of its own");
    const second = await run();
    expect(String(second.stderr), describeRun(second)).not.toContain("login");
    const token = await inSandbox(f, 'echo "$CLAUDE_CODE_OAUTH_TOKEN"', {
      env: { CLAUDE_CODE_OAUTH_TOKEN: "sk-ant-oat01-test" },
    });
    expect(String(token.stdout), describeRun(token)).toBe("sk-ant-oat01-test\n");
  });

  test("with CLAUDE_SANDBOX_SHARE_LOGIN=1 the host's login is shared read-write, written in place", async () => {
    const f = await fixtures.create(user());
    const share = { CLAUDE_SANDBOX_SHARE_LOGIN: "1" };
    // No host login yet: an empty one is made (0600) for the login inside to land in.
    const login = await inSandbox(
      f,
      "cat ~/.claude/.credentials.json; echo '{\"shared\":1}' > ~/.claude/.credentials.json && echo logged-in",
      { env: share },
    );
    expect(String(login.stdout), describeRun(login)).toBe("logged-in\n");
    const cred = path.join(f.home, ".claude", ".credentials.json");
    expect(await readFile(cred, "utf8")).toBe('{"shared":1}\n');
    expect((await stat(cred)).mode & 0o777).toBe(0o600);
    expect((await stat(cred)).uid).toBe(f.user.uid);
    // Claude Code replaces it by rename, which a bound file refuses; it then writes in place.
    const refresh = await inProject(
      f,
      await otherProject(f),
      [
        "cat ~/.claude/.credentials.json",
        "(echo '{\"renamed\":1}' > ~/.claude/c.tmp && mv ~/.claude/c.tmp ~/.claude/.credentials.json) 2>/dev/null || echo rename-refused",
        "echo '{\"refreshed\":1}' > ~/.claude/.credentials.json && echo in-place",
      ].join("; "),
      share,
    );
    expect(String(refresh.stdout), describeRun(refresh)).toBe('{"shared":1}\nrename-refused\nin-place\n');
    expect(await readFile(cred, "utf8")).toBe('{"refreshed":1}\n');
    const bad = await inSandbox(f, "true", { env: { CLAUDE_SANDBOX_SHARE_LOGIN: "yes" } });
    expect(bad.exitCode, describeRun(bad)).toBe(2);
    expect(String(bad.stderr)).toContain("CLAUDE_SANDBOX_SHARE_LOGIN");
  });

  test("an entry the sandbox left where the host's configuration is shown is moved aside, never followed", async () => {
    const f = await fixtures.create(user());
    // Links in its own ~/.claude at names the host does not have yet: bwrap, mounting the host's entry there
    // later, would follow them (and create an empty file where a dangling one points, on the host).
    const target = path.join(f.root, "created-through-link");
    const r = await inSandbox(
      f,
      [
        `ln -s /oldroot${target} ~/.claude/CLAUDE.md`,
        `ln -s /oldroot${target}-dir ~/.claude/agents`,
        "mkdir -p ~/.claude/statusline && touch ~/.claude/statusline.real && ln -s ../statusline.real ~/.claude/statusline/run.sh",
        "echo planted",
      ].join("; "),
    );
    expect(String(r.stdout), describeRun(r)).toBe("planted\n");
    await plant(f, ".claude/CLAUDE.md", "# the user's instructions\n");
    await plant(f, ".claude/agents/reviewer.md", "# reviewer\n");
    await plant(f, ".claude/statusline/run.sh", "echo status\n");
    await plant(
      f,
      ".claude/settings.json",
      JSON.stringify({ statusLine: { type: "command", command: "~/.claude/statusline/run.sh" } }),
    );
    const next = await inSandbox(
      f,
      "cat ~/.claude/CLAUDE.md ~/.claude/agents/reviewer.md ~/.claude/statusline/run.sh",
    );
    expect(String(next.stdout), describeRun(next)).toBe(
      "# the user's instructions\n# reviewer\necho status\n",
    );
    expect(existsSync(target)).toBe(false);
    expect(existsSync(`${target}-dir`)).toBe(false);
  });

  test("what earlier versions kept per project (file history, shell snapshots) moves into the project's ~/.claude", async () => {
    const f = await fixtures.create(user());
    const first = await inSandbox(f, "true");
    expect(first.exitCode, describeRun(first)).toBe(0);
    // The state dir as an earlier version left it: no claude/, a claude-file-history/ beside it.
    await rm(privateClaudeDir(f.state), { recursive: true });
    const old = path.join(f.state, "claude-file-history");
    await mkdir(path.join(old, "s"), { recursive: true });
    await writeFile(path.join(old, "s", "f@v1"), "v1\n");
    await chownTree(old, f.user);
    const r = await inSandbox(f, "cat ~/.claude/file-history/s/f@v1");
    expect(String(r.stdout), describeRun(r)).toBe("v1\n");
    expect(existsSync(old)).toBe(false);
  });
});
