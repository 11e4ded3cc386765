import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { EVIL, GIT, gitAttack, hostGit, hostMarker, hostRepo, userDir } from "../helpers/host-side.js";
import {
  describeRun,
  IDENTITIES,
  inSandbox,
  type LauncherFixture,
  useLauncherFixture,
} from "../helpers/launcher-harness.js";
import { requires } from "../helpers/requires.js";
import { chownTree } from "../helpers/sandbox-home.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root", "userns");

// Git dirs in the project other than its own .git, and the pointers to them: a submodule's checkout has a .git
// file naming its git dir, a nested repository has a .git of its own, core.hooksPath names a directory of the
// worktree, include.path a file. The host's git reads them all (`git status` runs git in every submodule), so a
// sandbox that rewrites one makes the host run what it planted. Each test makes one such change from inside a
// real sandbox, then runs git on the host as the user would, and looks for what the payload would create.

const fixtures = useLauncherFixture();

/** The project as a repository with a submodule at libs/sub (its git dir absorbed into .git/modules). */
async function repoWithSubmodule(fx: LauncherFixture) {
  const origin = await userDir(fx, "home", "origin");
  await hostRepo(fx, origin);
  await hostRepo(fx);
  await hostGit(fx, fx.project, ["submodule", "add", "-q", origin, "libs/sub"]);
  await hostGit(fx, fx.project, ["commit", "-q", "-m", "submodule"]);
}

function hook(marker: string) {
  return `printf '#!/bin/sh\\ntouch ${marker}\\n'`;
}

describe.skipIf(missing).each(IDENTITIES)("git dirs in the project, as %s", (_name, user) => {
  test.each([
    ["its .git file rewritten", `echo "gitdir: ${EVIL}" > libs/sub/.git`],
    [
      "its checkout renamed away and replaced",
      `mv libs/sub libs/sub.old && mkdir libs/sub && echo "gitdir: ${EVIL}" > libs/sub/.git`,
    ],
    [
      "the directory holding it renamed away and replaced",
      `mv libs libs.old && mkdir -p libs/sub && echo "gitdir: ${EVIL}" > libs/sub/.git`,
    ],
  ])("a submodule is not redirected: %s", async (_what, change) => {
    const fx = await fixtures.create(user());
    await repoWithSubmodule(fx);
    const marker = hostMarker(fx, "fsmonitor");
    const r = await inSandbox(fx, gitAttack(marker, change));
    // The host's `git status` in the superproject runs `git status` in each submodule.
    await hostGit(fx, fx.project, ["status", "--short"], true);
    expect(existsSync(marker), "the planted fsmonitor ran on the host's git status").toBe(false);
    expect(String(r.stdout), describeRun(r)).toBe("kept\n");
  });

  test.each([
    ["one level down", "b"],
    ["two levels down, in a monorepo's packages/", "packages/a"],
    ["deeper, as a submodule with a .git of its own", "deep/x/y"],
  ])("a repository nested in the project keeps its config and hooks read-only: %s", async (_what, rel) => {
    const fx = await fixtures.create(user());
    await hostRepo(fx);
    const nested = await userDir(fx, "project", ...rel.split("/"));
    await hostRepo(fx, nested);
    if (rel.startsWith("deep/")) await hostGit(fx, fx.project, ["submodule", "add", "-q", `./${rel}`, rel]);
    const marker = hostMarker(fx, "nested");
    const change = [
      `(git config -f ${rel}/.git/config core.fsmonitor 'touch ${marker}') 2>/dev/null && echo config-changed || echo config-kept`,
      `(${hook(marker)} > ${rel}/.git/hooks/post-commit && chmod +x ${rel}/.git/hooks/post-commit) 2>/dev/null && echo hook-planted || echo hook-refused`,
      // The agent's work in the nested repository goes on.
      `cd ${rel} && echo x > x.txt && git add x.txt && ${GIT} commit -q -m x && echo committed`,
    ].join("\n");
    const r = await inSandbox(fx, change);
    await hostGit(fx, nested, ["status", "--short"], true);
    await hostGit(fx, nested, ["commit", "-q", "--allow-empty", "-m", "host"], true);
    expect(existsSync(marker), "what the sandbox planted in the nested repository ran on the host").toBe(
      false,
    );
    expect(String(r.stdout), describeRun(r)).toBe("config-kept\nhook-refused\ncommitted\n");
  });

  test.each([
    [
      "husky's .husky/_, not installed yet",
      ".husky/_",
      "mkdir -p .husky/_ && HOOK > .husky/_/pre-commit && chmod +x .husky/_/pre-commit",
    ],
    ["husky's .husky/_, installed: the hook script it runs", ".husky/_", "HOOK > .husky/pre-commit"],
    [
      "a directory the user's global config names",
      "global:.githooks",
      "mkdir -p .githooks && HOOK > .githooks/pre-commit && chmod +x .githooks/pre-commit",
    ],
  ])(
    "core.hooksPath inside the project cannot be filled with hooks: %s",
    async (_what, hooksPath, change) => {
      const fx = await fixtures.create(user());
      await hostRepo(fx);
      const marker = hostMarker(fx, "hook");
      if (hooksPath.startsWith("global:")) {
        await writeFile(path.join(fx.home, ".gitconfig"), `[core]\n\thooksPath = ${hooksPath.slice(7)}\n`);
      } else {
        await hostGit(fx, fx.project, ["config", "core.hooksPath", hooksPath]);
      }
      if (change.includes(".husky/pre-commit") && !change.includes("_/pre-commit")) {
        // husky 9's layout: .husky/_/<hook> runs .husky/_/h, which runs the user's .husky/<hook>.
        const dir = await userDir(fx, "project", ".husky", "_");
        await writeFile(
          path.join(dir, "h"),
          '#!/bin/sh\ns=$(dirname "$(dirname "$0")")/$(basename "$0")\n[ -f "$s" ] || exit 0\nsh -e "$s" "$@"\n',
        );
        await writeFile(path.join(dir, "pre-commit"), '#!/bin/sh\n. "$(dirname "$0")/h"\n', { mode: 0o755 });
        await writeFile(path.join(fx.project, ".husky", "pre-commit"), "echo lint\n");
        await hostGit(fx, fx.project, ["add", "-A"]);
        await hostGit(fx, fx.project, ["commit", "-q", "-m", "husky"]);
      }
      // Whatever the test wrote is the user's own, as a clone leaves it.
      await chownTree(fx.project, fx.user);
      const r = await inSandbox(
        fx,
        `(${change.replaceAll("HOOK", hook(marker))}) 2>/dev/null && echo changed || echo kept`,
      );
      await hostGit(fx, fx.project, ["commit", "-q", "--allow-empty", "-m", "host"], true);
      expect(existsSync(marker), "a hook the sandbox wrote ran on the host's commit").toBe(false);
      expect(String(r.stdout), describeRun(r)).toBe("kept\n");
    },
  );

  test.each([
    ["a file .git/config includes, missing at launch", false],
    ["a file .git/config includes", true],
  ])("config git includes from the project cannot be planted: %s", async (_what, exists) => {
    const fx = await fixtures.create(user());
    await hostRepo(fx);
    await hostGit(fx, fx.project, ["config", "include.path", "../.gitconfig.project"]);
    if (exists) await writeFile(path.join(fx.project, ".gitconfig.project"), "[alias]\n\tst = status\n");
    await chownTree(fx.project, fx.user);
    const marker = hostMarker(fx, "include");
    const r = await inSandbox(
      fx,
      `(printf '[core]\\n\\tfsmonitor = touch ${marker}\\n' >> .gitconfig.project) 2>/dev/null && echo changed || echo kept`,
    );
    await hostGit(fx, fx.project, ["status", "--short"], true);
    expect(existsSync(marker), "the included config's fsmonitor ran on the host's git status").toBe(false);
    expect(String(r.stdout), describeRun(r)).toBe("kept\n");
  });
});
