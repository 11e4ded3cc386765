import { existsSync } from "node:fs";
import { chown, lchown, mkdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import path from "node:path";
import { describe, expect, test } from "vitest";
import {
  agentRecord,
  describeRun,
  IDENTITIES,
  inSandbox,
  installAgent,
  launch,
  useLauncherFixture,
} from "../helpers/launcher-harness.js";
import { requires } from "../helpers/requires.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root", "userns");

// Running things inside: the agent with its args and environment, shell mode, the project, git's config.

const fixtures = useLauncherFixture();

describe.skipIf(missing).each(IDENTITIES)("running inside the sandbox, as %s", (_name, user) => {
  test("shell mode runs one command with bash and returns its exit status and output", async () => {
    const fx = await fixtures.create(user());
    for (const net of [["--no-network"], []]) {
      const r = await inSandbox(fx, "echo out; echo err >&2; exit 7", { flags: net });
      expect(r.exitCode, describeRun(r)).toBe(7);
      expect(String(r.stdout)).toBe("out\n");
      expect(String(r.stderr)).toBe("err\n");
    }
  });

  test("the project is writable at its real path and files land on the host as the user", async () => {
    const fx = await fixtures.create(user());
    const r = await inSandbox(
      fx,
      "pwd; echo from-inside > made-inside.txt; mkdir -p sub && echo deep > sub/f && id -u",
      { flags: ["--no-network"] },
    );
    expect(r.exitCode, describeRun(r)).toBe(0);
    const [cwd, uid] = String(r.stdout).trim().split("\n");
    expect(cwd).toBe(fx.project);
    expect(Number(uid)).toBe(fx.user.uid);
    expect(await readFile(path.join(fx.project, "made-inside.txt"), "utf8")).toBe("from-inside\n");
    expect(await readFile(path.join(fx.project, "sub", "f"), "utf8")).toBe("deep\n");
    expect((await stat(path.join(fx.project, "made-inside.txt"))).uid).toBe(fx.user.uid);
  });

  test("the agent named claude runs on the sandbox PATH with the notices first, then the user's args", async () => {
    const fx = await fixtures.create(user());
    // ~/.local/bin inside is the state dir's local/bin: a user-installed agent persists there.
    await installAgent(fx, path.join(fx.state, "local", "bin", "claude"));
    const r = await launch(
      fx,
      ["--no-network", fx.project, "--", "--model", "opus", "two words", "--exit", "3"],
      {
        env: { ANTHROPIC_API_KEY: "sk-test-key" },
      },
    );
    expect(r.exitCode, describeRun(r)).toBe(3);
    expect(String(r.stdout)).toBe(`fixture agent ran with uid ${fx.user.uid}\n`);
    const { argv, env } = await agentRecord(fx);
    expect(argv[0]).toBe("--append-system-prompt");
    expect(argv[1]).toContain("claude-sandbox");
    expect(argv[1]).toContain(`The project directory is ${fx.project}.`);
    expect(argv.slice(2)).toEqual(["--model", "opus", "two words", "--exit", "3"]);
    expect(env.get("CLAUDE_SANDBOX")).toBe("1");
    expect(env.get("CLAUDE_SANDBOX_BACKEND")).toBe("bubblewrap");
    expect(env.get("CLAUDE_SANDBOX_STATE_DIR")).toBe(fx.state);
    expect(env.get("CHROMIUM_USER_DATA_DIR")).toBe(path.join(fx.state, "chromium"));
    expect(env.get("HOME")).toBe(fx.home);
    expect(env.get("ANTHROPIC_API_KEY")).toBe("sk-test-key");
    expect(env.get("LANG")).toBe("C.UTF-8");
  });

  test("CLAUDE_SANDBOX_AGENT picks another agent by absolute path; only `claude` gets the notices", async () => {
    const fx = await fixtures.create(user());
    const agent = path.join(fx.project, ".tools", "other-agent");
    await installAgent(fx, agent);
    const r = await launch(fx, ["--no-network", fx.project, "--", "hello"], {
      env: { CLAUDE_SANDBOX_AGENT: agent },
    });
    expect(r.exitCode, describeRun(r)).toBe(0);
    expect((await agentRecord(fx)).argv).toEqual(["hello"]);
    // A missing agent is a clear error before any sandbox starts.
    const missing = await launch(fx, ["--no-network", fx.project], {
      env: { CLAUDE_SANDBOX_AGENT: "no-such-agent" },
    });
    expect(missing.exitCode, describeRun(missing)).toBe(127);
    expect(String(missing.stderr)).toContain("agent 'no-such-agent' is not on the sandbox PATH");
  });

  test("git inside sees the user's git config; the config is read-only", async () => {
    const fx = await fixtures.create(user());
    const gitconfig = path.join(fx.home, ".gitconfig");
    await writeFile(gitconfig, "[user]\n\tname = Sandbox Tester\n\temail = tester@example.invalid\n");
    await chown(gitconfig, fx.user.uid, fx.user.gid);
    const r = await inSandbox(
      fx,
      "git config --global user.name; git init -q . && git -c commit.gpgsign=false commit -q --allow-empty -m one && git log --format=%an; git config --global user.name evil 2>/dev/null || echo refused",
      { flags: ["--no-network"] },
    );
    expect(r.exitCode, describeRun(r)).toBe(0);
    expect(String(r.stdout).trim().split("\n")).toEqual(["Sandbox Tester", "Sandbox Tester", "refused"]);
    expect(await readFile(gitconfig, "utf8")).toContain("Sandbox Tester");
  });

  test("/etc has the spec's host files with their content, read-only; TLS certificates but no private keys", async () => {
    const fx = await fixtures.create(user());
    const script = [
      "cat /etc/passwd; echo @@",
      "cat /etc/hosts; echo @@",
      "test -s /etc/ssl/certs/ca-certificates.crt && echo certs",
      "test -e /etc/ssl/private || echo no-private-keys",
      "test -e /etc/shadow || echo no-shadow",
      "(echo x >> /etc/passwd) 2>/dev/null || echo passwd-read-only",
      "(: > /etc/new-file) 2>/dev/null || echo etc-read-only",
      "getent passwd root | cut -d: -f1",
    ].join("; ");
    const r = await inSandbox(fx, script);
    expect(r.exitCode, describeRun(r)).toBe(0);
    const [passwd, hosts, rest] = String(r.stdout).split("@@\n");
    expect(passwd).toBe(await readFile("/etc/passwd", "utf8"));
    expect(hosts).toBe(await readFile("/etc/hosts", "utf8"));
    expect(rest?.trim().split("\n")).toEqual([
      "certs",
      "no-private-keys",
      "no-shadow",
      "passwd-read-only",
      "etc-read-only",
      "root",
    ]);
  });

  test("the environment is only the allowlist: host secrets are absent, GH_TOKEN only with --gh-token", async () => {
    const fx = await fixtures.create(user());
    const env = { AWS_SECRET_ACCESS_KEY: "aws-secret-value", GH_TOKEN: "gh-secret", LC_TIME: "C.UTF-8" };
    const script = "env -0";
    const plain = await inSandbox(fx, script, { flags: ["--no-network"], env });
    expect(plain.exitCode, describeRun(plain)).toBe(0);
    const names = (out: unknown) =>
      String(out)
        .split("\0")
        .map((e) => e.slice(0, e.indexOf("=")))
        .filter(Boolean);
    expect(names(plain.stdout)).not.toContain("AWS_SECRET_ACCESS_KEY");
    expect(names(plain.stdout)).not.toContain("GH_TOKEN");
    expect(names(plain.stdout)).toContain("LC_TIME");
    expect(String(plain.stdout)).not.toContain("aws-secret-value");
    const gh = await launch(fx, ["--no-network", "--gh-token", "--shell", fx.project, "--", "-c", script], {
      env,
    });
    expect(String(gh.stdout)).toContain("GH_TOKEN=gh-secret");
    expect(String(gh.stdout)).not.toContain("aws-secret-value");
  });

  test("~/.claude persists per project, the user's settings in it read-only; ~/.claude.json is a copy", async () => {
    const fx = await fixtures.create(user());
    const claude = path.join(fx.home, ".claude");
    await mkdir(path.join(claude, "commands"), { recursive: true });
    await writeFile(path.join(claude, "settings.json"), '{"theme":"dark"}\n');
    await writeFile(path.join(fx.home, ".claude.json"), '{"numStartups":1}\n');
    for (const p of [
      claude,
      path.join(claude, "commands"),
      path.join(claude, "settings.json"),
      path.join(fx.home, ".claude.json"),
    ]) {
      await chown(p, fx.user.uid, fx.user.gid);
    }
    const r = await inSandbox(
      fx,
      [
        "echo session > ~/.claude/history.jsonl",
        "echo '{}' > ~/.claude/settings.json 2>/dev/null; echo settings=$?",
        "mkdir ~/.claude/commands/x 2>/dev/null; echo commands=$?",
        "tr -d ' \\n' < ~/.claude.json; echo; echo '{\"numStartups\":2}' > ~/.claude.json; echo copy=$?",
      ].join("; "),
      { flags: ["--no-network"] },
    );
    expect(r.exitCode, describeRun(r)).toBe(0);
    expect(String(r.stdout)).toBe('settings=1\ncommands=1\n{"numStartups":1}\ncopy=0\n');
    // The history is the project's own: kept for its next sandbox, never written to the host's ~/.claude.
    expect(existsSync(path.join(claude, "history.jsonl"))).toBe(false);
    const again = await inSandbox(fx, "cat ~/.claude/history.jsonl");
    expect(String(again.stdout), describeRun(again)).toBe("session\n");
    expect(await readFile(path.join(claude, "settings.json"), "utf8")).toBe('{"theme":"dark"}\n');
    expect(await readFile(path.join(fx.home, ".claude.json"), "utf8")).toBe('{"numStartups":1}\n');
  });

  test("~/.ssh: only config and known_hosts, keys only with --ssh-keys; the agent socket is forwarded", async () => {
    const fx = await fixtures.create(user());
    const f = fx;
    const ssh = path.join(f.home, ".ssh");
    await mkdir(ssh, { mode: 0o700 });
    for (const [name, content] of [
      ["config", "Host example\n"],
      ["known_hosts", "example ssh-ed25519 AAAA\n"],
      ["id_ed25519", "PRIVATE KEY MATERIAL\n"],
    ]) {
      await writeFile(path.join(ssh, name ?? ""), content ?? "", { mode: 0o600 });
      await chown(path.join(ssh, name ?? ""), f.user.uid, f.user.gid);
    }
    await chown(ssh, f.user.uid, f.user.gid);
    // A stand-in for ssh-agent: answers "pong" on its Unix socket.
    const agentSock = path.join(f.root, "agent.sock");
    const server = createServer((c) => c.end("pong"));
    await new Promise<void>((resolve) => server.listen(agentSock, resolve));
    try {
      await chown(agentSock, f.user.uid, f.user.gid);
      const script = [
        "ls ~/.ssh | tr '\\n' ' '; echo",
        "cat ~/.ssh/id_ed25519 2>/dev/null || echo no-key",
        "echo x >> ~/.ssh/config 2>/dev/null || echo config-read-only",
        "python3 -c \"import os,socket; s=socket.socket(socket.AF_UNIX); s.connect(os.environ['SSH_AUTH_SOCK']); print(s.recv(9).decode())\"",
      ].join("; ");
      const env = { SSH_AUTH_SOCK: agentSock };
      const plain = await inSandbox(f, script, { flags: ["--no-network"], env });
      expect(plain.exitCode, describeRun(plain)).toBe(0);
      expect(String(plain.stdout)).toBe("config known_hosts \nno-key\nconfig-read-only\npong\n");
      const keys = await launch(f, ["--no-network", "--ssh-keys", "--shell", f.project, "--", "-c", script], {
        env,
      });
      expect(keys.exitCode, describeRun(keys)).toBe(0);
      expect(String(keys.stdout)).toBe(
        "config id_ed25519 known_hosts \nPRIVATE KEY MATERIAL\nconfig-read-only\npong\n",
      );
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test("the project's .git/hooks and .git/config are read-only, the rest of .git is not", async () => {
    const fx = await fixtures.create(user());
    const init = await inSandbox(fx, "git init -q . && echo ok", { flags: ["--no-network"] });
    expect(String(init.stdout), describeRun(init)).toBe("ok\n");
    const r = await inSandbox(
      fx,
      [
        "echo 'exit 0' > .git/hooks/pre-commit 2>/dev/null || echo hooks-read-only",
        "git config core.fsmonitor 'touch /tmp/pwned' 2>/dev/null || echo config-read-only",
        "git -c user.name=t -c user.email=t@e -c commit.gpgsign=false commit -q --allow-empty -m x && echo committed",
      ].join("; "),
      { flags: ["--no-network"] },
    );
    expect(r.exitCode, describeRun(r)).toBe(0);
    expect(String(r.stdout)).toBe("hooks-read-only\nconfig-read-only\ncommitted\n");
    expect(await readFile(path.join(fx.project, ".git", "config"), "utf8")).not.toContain("fsmonitor");
  });
  test("a directory holding read-only paths cannot be renamed away and replaced (.git, submodules, hook dirs)", async () => {
    const fx = await fixtures.create(user());
    const f = fx;
    const host = (cmd: string) => inSandbox(f, cmd);
    // A repository with a submodule (its git dir under .git/modules, name with a slash), a project hook script
    // in a nested directory, and a statusLine script in a nested directory of ~/.claude.
    const setup = [
      "set -e",
      "git init -q sub-origin",
      "git -C sub-origin -c user.name=t -c user.email=t@e -c commit.gpgsign=false commit -q --allow-empty -m i",
      "git init -q .",
      "git -c protocol.file.allow=always submodule add -q ./sub-origin libs/sub",
      "mkdir -p scripts/hooks && echo 'exit 0' > scripts/hooks/stop.sh",
      "echo ok",
    ].join("\n");
    const init = await inSandbox(f, setup);
    expect(String(init.stdout), describeRun(init)).toBe("ok\n");
    await writeFile(
      path.join(f.project, ".claude", "settings.json"),
      JSON.stringify({
        hooks: {
          Stop: [{ hooks: [{ type: "command", command: "$CLAUDE_PROJECT_DIR/scripts/hooks/stop.sh" }] }],
        },
      }),
    );
    const claudeScripts = path.join(f.home, ".claude", "statusline");
    await mkdir(claudeScripts, { recursive: true });
    await writeFile(path.join(claudeScripts, "run.sh"), "echo status\n");
    await writeFile(
      path.join(f.home, ".claude", "settings.json"),
      JSON.stringify({ statusLine: { type: "command", command: "~/.claude/statusline/run.sh" } }),
    );
    for (const p of [path.join(f.home, ".claude"), claudeScripts, path.join(claudeScripts, "run.sh")]) {
      await chown(p, f.user.uid, f.user.gid);
    }
    await chown(path.join(f.home, ".claude", "settings.json"), f.user.uid, f.user.gid);
    const swaps = [
      ".git",
      ".git/modules",
      ".git/modules/libs",
      ".git/modules/libs/sub",
      "scripts",
      "scripts/hooks",
    ];
    const attack = [
      ...swaps.map((d) => `mv ${d} ${d}.old 2>/dev/null && echo "moved ${d}" || echo "kept ${d}"`),
      `mv ~/.claude/statusline ~/.claude/statusline.old 2>/dev/null && echo "moved statusline" || echo "kept statusline"`,
      "(echo '[core] fsmonitor = touch /tmp/pwned' >> .git/modules/libs/sub/config) 2>/dev/null || echo sub-config-read-only",
      "(echo x > libs/sub/new-file) && echo submodule-worktree-writable",
      "git -c user.name=t -c user.email=t@e -c commit.gpgsign=false commit -q -m c && echo committed",
    ].join("; ");
    const r = await host(attack);
    expect(r.exitCode, describeRun(r)).toBe(0);
    expect(String(r.stdout).trim().split("\n")).toEqual([
      ...swaps.map((d) => `kept ${d}`),
      // The project's own ~/.claude is the sandbox's to rearrange; the host's script stays as it was.
      "moved statusline",
      "sub-config-read-only",
      "submodule-worktree-writable",
      "committed",
    ]);
    expect(
      await readFile(path.join(f.project, ".git", "modules", "libs", "sub", "config"), "utf8"),
    ).not.toContain("fsmonitor");
    expect(await readFile(path.join(claudeScripts, "run.sh"), "utf8")).toBe("echo status\n");
    expect(existsSync(path.join(f.home, ".claude", "statusline.old"))).toBe(false);
  });

  test("a repository without a hooks dir gets an empty read-only one, so no hook can be planted", async () => {
    const fx = await fixtures.create(user());
    const init = await inSandbox(fx, "git init -q . && rm -rf .git/hooks && echo ok");
    expect(String(init.stdout), describeRun(init)).toBe("ok\n");
    const script =
      "(mkdir -p .git/hooks && echo 'touch /tmp/pwned' > .git/hooks/pre-commit) 2>/dev/null || echo hooks-read-only";
    const r = await inSandbox(fx, script);
    expect(String(r.stdout), describeRun(r)).toBe("hooks-read-only\n");
    expect(existsSync(path.join(fx.project, ".git", "hooks", "pre-commit"))).toBe(false);
  });

  test("project paths kept read-only (.git/hooks, .claude, .mcp.json) never bind a symlink the sandbox planted", async () => {
    const fx = await fixtures.create(user());
    // A private key outside the project, and links to it where the launcher binds project paths read-only:
    // following them on the host would hand the key to the sandbox.
    const keys = path.join(fx.home, ".ssh");
    await mkdir(keys);
    await writeFile(path.join(keys, "id_ed25519"), "PLANTED-KEY\n");
    await mkdir(path.join(fx.project, ".git"));
    for (const p of [keys, path.join(keys, "id_ed25519"), path.join(fx.project, ".git")]) {
      await chown(p, fx.user.uid, fx.user.gid);
    }
    const links: [string, string][] = [
      [keys, path.join(fx.project, ".git", "hooks")],
      [keys, path.join(fx.project, ".claude")],
      [path.join(keys, "id_ed25519"), path.join(fx.project, ".mcp.json")],
    ];
    for (const [target, link] of links) {
      await symlink(target, link);
      await lchown(link, fx.user.uid, fx.user.gid);
    }
    const r = await inSandbox(
      fx,
      "cat .git/hooks/id_ed25519 .claude/id_ed25519 .mcp.json 2>/dev/null; echo done",
    );
    expect(r.exitCode, describeRun(r)).toBe(0);
    expect(String(r.stdout)).toBe("done\n");
    expect(String(r.stderr)).toMatch(/\.claude is a symlink/);
  });

  test("project .claude (settings, hooks) is read-only inside, and created empty when missing", async () => {
    const fx = await fixtures.create(user());
    const r = await inSandbox(
      fx,
      "echo '{}' > .claude/settings.json 2>/dev/null; echo settings=$?; mkdir .claude/hooks 2>/dev/null; echo hooks=$?; echo ok > notes.md; echo notes=$?",
    );
    expect(r.exitCode, describeRun(r)).toBe(0);
    expect(String(r.stdout)).toBe("settings=1\nhooks=1\nnotes=0\n");
    const dotClaude = await stat(path.join(fx.project, ".claude"));
    expect(dotClaude.isDirectory()).toBe(true);
    expect(dotClaude.uid).toBe(fx.user.uid);
  });
});
