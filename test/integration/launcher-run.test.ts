import { chown, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import {
  agentRecord,
  createLauncherFixture,
  describeRun,
  IDENTITIES,
  installAgent,
  type LauncherFixture,
  launch,
} from "./launcher-harness.js";

// Running things inside: the agent with its args and environment, shell mode, the project, git's config.

let fx: LauncherFixture | undefined;
afterEach(async () => {
  await fx?.cleanup();
  fx = undefined;
});

describe.each(IDENTITIES)("running inside the sandbox, as %s", (_name, user) => {
  test("shell mode runs one command with bash and returns its exit status and output", async () => {
    fx = await createLauncherFixture(user());
    for (const net of [["--no-network"], []]) {
      const r = await launch(fx, [
        ...net,
        "--shell",
        fx.project,
        "--",
        "-c",
        "echo out; echo err >&2; exit 7",
      ]);
      expect(r.exitCode, describeRun(r)).toBe(7);
      expect(String(r.stdout)).toBe("out\n");
      expect(String(r.stderr)).toBe("err\n");
    }
  });

  test("the project is writable at its real path and files land on the host as the user", async () => {
    fx = await createLauncherFixture(user());
    const r = await launch(fx, [
      "--no-network",
      "--shell",
      fx.project,
      "--",
      "-c",
      "pwd; echo from-inside > made-inside.txt; mkdir -p sub && echo deep > sub/f && id -u",
    ]);
    expect(r.exitCode, describeRun(r)).toBe(0);
    const [cwd, uid] = String(r.stdout).trim().split("\n");
    expect(cwd).toBe(fx.project);
    expect(Number(uid)).toBe(fx.user.uid);
    expect(await readFile(path.join(fx.project, "made-inside.txt"), "utf8")).toBe("from-inside\n");
    expect(await readFile(path.join(fx.project, "sub", "f"), "utf8")).toBe("deep\n");
    expect((await stat(path.join(fx.project, "made-inside.txt"))).uid).toBe(fx.user.uid);
  });

  test("the agent named claude runs on the sandbox PATH with the notices first, then the user's args", async () => {
    fx = await createLauncherFixture(user());
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
    fx = await createLauncherFixture(user());
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
    fx = await createLauncherFixture(user());
    const gitconfig = path.join(fx.home, ".gitconfig");
    await writeFile(gitconfig, "[user]\n\tname = Sandbox Tester\n\temail = tester@example.invalid\n");
    await chown(gitconfig, fx.user.uid, fx.user.gid);
    const r = await launch(fx, [
      "--no-network",
      "--shell",
      fx.project,
      "--",
      "-c",
      "git config --global user.name; git init -q . && git -c commit.gpgsign=false commit -q --allow-empty -m one && git log --format=%an; git config --global user.name evil 2>/dev/null || echo refused",
    ]);
    expect(r.exitCode, describeRun(r)).toBe(0);
    expect(String(r.stdout).trim().split("\n")).toEqual(["Sandbox Tester", "Sandbox Tester", "refused"]);
    expect(await readFile(gitconfig, "utf8")).toContain("Sandbox Tester");
  });

  test("the environment is only the allowlist: host secrets are absent, GH_TOKEN only with --gh-token", async () => {
    fx = await createLauncherFixture(user());
    const env = { AWS_SECRET_ACCESS_KEY: "aws-secret-value", GH_TOKEN: "gh-secret", LC_TIME: "C.UTF-8" };
    const script = "env -0";
    const plain = await launch(fx, ["--no-network", "--shell", fx.project, "--", "-c", script], { env });
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

  test("~/.claude persists read-write except its settings; ~/.claude.json is a copy", async () => {
    fx = await createLauncherFixture(user());
    const claude = path.join(fx.home, ".claude");
    await mkdir(claude);
    await writeFile(path.join(claude, "settings.json"), '{"theme":"dark"}\n');
    await writeFile(path.join(fx.home, ".claude.json"), '{"numStartups":1}\n');
    for (const p of [claude, path.join(claude, "settings.json"), path.join(fx.home, ".claude.json")]) {
      await chown(p, fx.user.uid, fx.user.gid);
    }
    const r = await launch(fx, [
      "--no-network",
      "--shell",
      fx.project,
      "--",
      "-c",
      [
        "echo session > ~/.claude/history.jsonl",
        "echo '{}' > ~/.claude/settings.json 2>/dev/null; echo settings=$?",
        "mkdir ~/.claude/hooks/x 2>/dev/null; echo hooks=$?",
        "cat ~/.claude.json; echo '{\"numStartups\":2}' > ~/.claude.json; echo copy=$?",
      ].join("; "),
    ]);
    expect(r.exitCode, describeRun(r)).toBe(0);
    expect(String(r.stdout)).toBe('settings=1\nhooks=1\n{"numStartups":1}\ncopy=0\n');
    expect(await readFile(path.join(claude, "history.jsonl"), "utf8")).toBe("session\n");
    expect(await readFile(path.join(claude, "settings.json"), "utf8")).toBe('{"theme":"dark"}\n');
    expect(await readFile(path.join(fx.home, ".claude.json"), "utf8")).toBe('{"numStartups":1}\n');
  });
});
