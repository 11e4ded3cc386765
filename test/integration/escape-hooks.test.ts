import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { hostMarker, hostRun } from "../helpers/host-side.js";
import {
  describeRun,
  IDENTITIES,
  inSandbox,
  type LauncherFixture,
  launch,
  useLauncherFixture,
} from "../helpers/launcher-harness.js";
import { requires } from "../helpers/requires.js";
import { chownTree } from "../helpers/sandbox-home.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root", "userns");

// The host's claude runs the commands of the project's .claude/settings.json (hooks, statusLine) and the servers
// of its .mcp.json with the project as working directory, and so also the user's own settings' commands. A
// command that names a script by a relative path (`sh scripts/session.sh`, `./bin/hook`, `node tools/h.js`,
// `cd tools && ./x.sh`) runs a file of the project, which the sandbox could rewrite or, when missing, create.
// Each test rewrites them from inside a real sandbox, then runs every command on the host the way Claude Code
// does (`sh -c` in the project, $CLAUDE_PROJECT_DIR set) and looks for what the payload would create.

const fixtures = useLauncherFixture();

interface Planted {
  /** The command as the settings file holds it. */
  command: string;
  /** A file it runs, relative to the project, and what it holds before the attack. */
  file: string;
  content?: string;
  /** JavaScript rather than shell. */
  js?: boolean;
}

/** Scripts and the commands that run them, with the forms hook commands take. */
const PROJECT_HOOKS: Planted[] = [
  { command: "sh scripts/session.sh", file: "scripts/session.sh", content: "true\n" },
  { command: "./bin/hook --quiet", file: "bin/hook", content: "#!/bin/sh\ntrue\n" },
  { command: 'bash -c "cd tools && ./x.sh"', file: "tools/x.sh", content: "#!/bin/sh\ntrue\n" },
  { command: "cd tools && sh ./y.sh 2>/dev/null", file: "tools/y.sh", content: "true\n" },
  { command: "node tools/h.js", file: "tools/h.js", content: "\n", js: true },
  { command: 'sh "$CLAUDE_PROJECT_DIR"/hooks/quoted.sh', file: "hooks/quoted.sh", content: "true\n" },
  // Named but missing at launch: the sandbox would create it.
  { command: "sh scripts/missing.sh || true", file: "scripts/missing.sh" },
];

async function plantFiles(fx: LauncherFixture, planted: Planted[], root = fx.project) {
  for (const p of planted) {
    if (p.content === undefined) continue;
    const file = path.join(root, p.file);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, p.content, { mode: 0o755 });
  }
}

function settings(commands: string[], statusLine?: string) {
  return `${JSON.stringify(
    {
      hooks: { SessionStart: [{ hooks: commands.map((command) => ({ type: "command", command })) }] },
      ...(statusLine ? { statusLine: { type: "command", command: statusLine } } : {}),
    },
    null,
    2,
  )}\n`;
}

/** Shell lines, run inside, that put a payload creating MARKERS[i] into each planted file. */
function rewrite(planted: Planted[], markers: string[], root = ".") {
  return planted
    .map((p, i) => {
      const payload = p.js ? `require('fs').writeFileSync('${markers[i]}', '')` : `touch ${markers[i]}`;
      const file = `${root}/${p.file}`;
      return `(mkdir -p "$(dirname ${file})" && echo "${payload}" >> ${file} && chmod +x ${file}) 2>/dev/null && echo "changed ${p.file}" || echo "kept ${p.file}"`;
    })
    .join("\n");
}

/** Runs each command on the host as Claude Code would, from DIR; returns the markers that appeared. */
async function runOnHost(fx: LauncherFixture, dir: string, commands: string[], markers: string[]) {
  for (const command of commands) {
    await hostRun(fx, dir, "sh", ["-c", command], { CLAUDE_PROJECT_DIR: dir });
  }
  return markers.filter((m) => existsSync(m)).map((m) => path.basename(m));
}

/**
 * Rewrites each planted file from inside a sandbox, then runs its command on the host from the project: the
 * sandbox reports every file kept, and no payload ran (WHY says what ran otherwise).
 */
async function expectKept(fx: LauncherFixture, planted: Planted[], why: string) {
  const markers = planted.map((p) => hostMarker(fx, p.file.replaceAll("/", "-")));
  const r = await inSandbox(fx, rewrite(planted, markers));
  const ran = await runOnHost(
    fx,
    fx.project,
    planted.map((p) => p.command),
    markers,
  );
  expect(ran, why).toEqual([]);
  expect(String(r.stdout).trim().split("\n"), describeRun(r)).toEqual(planted.map((p) => `kept ${p.file}`));
}

describe.skipIf(missing).each(IDENTITIES)("scripts that hook commands name, as %s", (_name, user) => {
  test("scripts named by the project's hook and statusLine commands, relative paths too, cannot be rewritten or created", async () => {
    const fx = await fixtures.create(user());
    const planted = [
      ...PROJECT_HOOKS,
      { command: "sh status/line.sh", file: "status/line.sh", content: "true\n" },
    ];
    await plantFiles(fx, planted);
    await mkdir(path.join(fx.project, ".claude"));
    await writeFile(
      path.join(fx.project, ".claude", "settings.json"),
      settings(PROJECT_HOOKS.map((p) => p.command)),
    );
    await writeFile(
      path.join(fx.project, ".claude", "settings.local.json"),
      settings([], "sh status/line.sh"),
    );
    await chownTree(fx.project, fx.user);
    await expectKept(fx, planted, "hook scripts the sandbox rewrote ran on the host");
    // A missing script was created empty before the sandbox started.
    expect(await readFile(path.join(fx.project, "scripts", "missing.sh"), "utf8")).toBe("");
  });

  test("relative paths in the user's own settings resolve into the project and are protected too", async () => {
    const fx = await fixtures.create(user());
    const planted: Planted[] = [
      { command: "./scripts/user-hook.sh", file: "scripts/user-hook.sh", content: "#!/bin/sh\ntrue\n" },
      { command: "node statusline.js", file: "statusline.js", content: "\n", js: true },
    ];
    await plantFiles(fx, planted);
    await mkdir(path.join(fx.home, ".claude"), { recursive: true });
    await writeFile(
      path.join(fx.home, ".claude", "settings.json"),
      settings([planted[0]?.command ?? ""], "node statusline.js"),
    );
    await chownTree(fx.project, fx.user);
    await chownTree(path.join(fx.home, ".claude"), fx.user);
    await expectKept(fx, planted, "scripts of the user's settings that the sandbox rewrote ran on the host");
  });

  test("scripts that .mcp.json servers run cannot be rewritten", async () => {
    const fx = await fixtures.create(user());
    const planted: Planted[] = [
      { command: "node ./mcp/server.js", file: "mcp/server.js", content: "\n", js: true },
      { command: "./mcp/run.sh --stdio", file: "mcp/run.sh", content: "#!/bin/sh\ntrue\n" },
    ];
    await plantFiles(fx, planted);
    const servers = {
      mcpServers: {
        js: { command: "node", args: ["./mcp/server.js"] },
        sh: { type: "stdio", command: "./mcp/run.sh", args: ["--stdio"] },
      },
    };
    await writeFile(path.join(fx.project, ".mcp.json"), `${JSON.stringify(servers, null, 2)}\n`);
    await chownTree(fx.project, fx.user);
    await expectKept(fx, planted, "server scripts the sandbox rewrote ran on the host");
  });

  test("a .claude dir in a subdirectory at launch is read-only, with the scripts its hooks name", async () => {
    const fx = await fixtures.create(user());
    const sub = path.join(fx.project, "packages", "app");
    const planted: Planted[] = [{ command: "./hook.sh", file: "hook.sh", content: "#!/bin/sh\ntrue\n" }];
    await plantFiles(fx, planted, sub);
    await mkdir(path.join(sub, ".claude"));
    await writeFile(path.join(sub, ".claude", "settings.json"), settings(["./hook.sh"]));
    await chownTree(fx.project, fx.user);
    const markers = [hostMarker(fx, "nested-hook"), hostMarker(fx, "nested-settings")];
    const attack = [
      rewrite(planted, markers, "packages/app"),
      `(echo '${settings([`touch ${markers[1]}`])}' > packages/app/.claude/settings.local.json) 2>/dev/null && echo "changed settings" || echo "kept settings"`,
    ].join("\n");
    const r = await inSandbox(fx, attack);
    // The host's claude started in packages/app runs that directory's settings.
    const local = path.join(sub, ".claude", "settings.local.json");
    const commands = ["./hook.sh", ...(existsSync(local) ? [`touch ${markers[1]}`] : [])];
    const ran = await runOnHost(fx, sub, commands, markers);
    expect(ran, "what the sandbox wrote into a subdirectory's Claude settings ran on the host").toEqual([]);
    expect(String(r.stdout), describeRun(r)).toBe("kept hook.sh\nkept settings\n");
  });

  test("the agent still runs the project's scripts and edits everything else; doctor names the settings that run commands", async () => {
    const fx = await fixtures.create(user());
    await plantFiles(fx, PROJECT_HOOKS);
    await mkdir(path.join(fx.project, ".claude"));
    await writeFile(
      path.join(fx.project, ".claude", "settings.json"),
      settings(PROJECT_HOOKS.map((p) => p.command)),
    );
    await writeFile(path.join(fx.project, "notes.md"), "notes\n");
    await chownTree(fx.project, fx.user);
    const work = [
      "sh scripts/session.sh && ./bin/hook && echo ran-scripts",
      "echo more >> notes.md && echo edited-notes",
      "echo 'echo new' > scripts/new.sh && echo created-next-to-hooks",
      "python3 -c 'print(1)' >/dev/null && echo ok",
    ].join("\n");
    const r = await inSandbox(fx, work);
    expect(String(r.stdout), describeRun(r)).toBe("ran-scripts\nedited-notes\ncreated-next-to-hooks\nok\n");
    const doctor = await launch(fx, ["doctor", "--json", fx.project]);
    const check = String(doctor.stdout)
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { check: string; status: string; detail: string })
      .find((c) => c.check === "project-hooks");
    expect(check?.status, String(doctor.stdout)).toBe("warn");
    expect(check?.detail).toContain(path.join(fx.project, ".claude", "settings.json"));
    expect(check?.detail).toContain("scripts/session.sh");
    expect(check?.detail).toContain("tools/h.js");
  });
});
