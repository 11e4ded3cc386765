import { existsSync } from "node:fs";
import path from "node:path";
import { describe, expect, test } from "vitest";
import {
  EVIL,
  GIT,
  gitAttack,
  hostGit,
  hostMarker,
  hostRepo,
  plantGitDir,
  userDir,
} from "../helpers/host-side.js";
import {
  describeRun,
  IDENTITIES,
  inSandbox,
  type LauncherFixture,
  useLauncherFixture,
} from "../helpers/launcher-harness.js";
import { requires } from "../helpers/requires.js";
import { holdsWithin } from "../helpers/wait.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root", "userns");

// A linked worktree (`git worktree add ../wt`) finds its repository through files in the project:
// .git/worktrees/<wt>/commondir names the common git dir, config.worktree extends the config, and without a
// commondir the worktree's git dir is a repository of its own. A sandbox that rewrites them points the host's
// `git status` in that worktree, outside the project, at a git dir it planted, whose core.fsmonitor then runs
// on the host. Each test makes one such change from inside a real sandbox, then runs git on the host in the
// worktree as the user would, and looks for what the planted fsmonitor would have created.

const fixtures = useLauncherFixture();

/** A repository in the project with one commit, and a worktree of it outside the project (in HOME). */
async function repoWithWorktree(fx: LauncherFixture) {
  await hostRepo(fx);
  const outside = path.join(await userDir(fx, "home", "checkouts"), "wt-out");
  await hostGit(fx, fx.project, ["worktree", "add", "-q", outside]);
  return outside;
}

/** Runs CHANGE inside (gitAttack), then the host's git status in WORKTREE: the change is refused, nothing ran. */
async function expectKept(fx: LauncherFixture, change: string, worktree: string) {
  const marker = hostMarker(fx, "fsmonitor");
  const r = await inSandbox(fx, gitAttack(marker, change));
  await hostGit(fx, worktree, ["status", "--short"], true);
  expect(existsSync(marker), "the planted fsmonitor ran on the host's git status in the worktree").toBe(
    false,
  );
  expect(String(r.stdout), describeRun(r)).toBe("kept\n");
}

const A = ".git/worktrees/wt-out";
/** Changes that each point the outside worktree at the planted git dir. */
const outsideAttacks: [string, string][] = [
  ["its commondir rewritten", `echo "${EVIL}" > ${A}/commondir`],
  [
    "its commondir removed, its git dir made a repository with a config",
    `rm -f ${A}/commondir && cp evil.git/config ${A}/config && mkdir -p ${A}/objects ${A}/refs`,
  ],
  ["a config.worktree planted (worktree config on)", `cp evil.git/config ${A}/config.worktree`],
  [
    "its git dir renamed away and replaced",
    `mv ${A} ${A}.old && mkdir ${A} && cp ${A}.old/HEAD ${A}.old/gitdir ${A}/ && echo "${EVIL}" > ${A}/commondir`,
  ],
  [
    "the worktrees dir renamed away and replaced",
    `mv .git/worktrees .git/worktrees.old && mkdir .git/worktrees && cp -r .git/worktrees.old/wt-out .git/worktrees/ && echo "${EVIL}" > ${A}/commondir`,
  ],
];

const F = ".worktrees/feat";
/** Changes that each point a worktree checked out inside the project at the planted git dir. */
const insideAttacks: [string, string][] = [
  ["its .git file rewritten", `echo "gitdir: ${EVIL}" > ${F}/.git`],
  ["its commondir rewritten", `echo "${EVIL}" > .git/worktrees/feat/commondir`],
  [
    "its checkout renamed away and replaced",
    `mv ${F} ${F}.old && mkdir ${F} && echo "gitdir: ${EVIL}" > ${F}/.git`,
  ],
];

describe.skipIf(missing).each(IDENTITIES)("linked worktrees, as %s", (_name, user) => {
  test.each(outsideAttacks)(
    "a worktree outside the project is not redirected by the sandbox: %s",
    async (_what, change) => {
      const fx = await fixtures.create(user());
      const outside = await repoWithWorktree(fx);
      // config.worktree is read once the user has turned worktree config on.
      await hostGit(fx, fx.project, ["config", "extensions.worktreeConfig", "true"]);
      await expectKept(fx, change, outside);
    },
  );

  test("a worktree the host adds while the sandbox runs is not redirected, nor can its git dir be made first", async () => {
    const fx = await fixtures.create(user());
    await repoWithWorktree(fx);
    const marker = hostMarker(fx, "fsmonitor");
    const added = path.join(fx.home, "checkouts", "wt-later");
    // The sandbox waits for the host's `git worktree add`, then rewrites the commondir it created.
    const attack = [
      plantGitDir(EVIL, marker),
      "echo ready > ready",
      "for i in $(seq 200); do [ -f .git/worktrees/wt-later/commondir ] && break; sleep 0.05; done",
      `(echo "${EVIL}" > .git/worktrees/wt-later/commondir) 2>/dev/null && echo redirected || echo kept`,
      "(mkdir .git/worktrees/wt-next) 2>/dev/null && echo made || echo not-made",
    ].join("\n");
    const running = inSandbox(fx, attack, { timeoutMs: 60_000 });
    expect(await holdsWithin(async () => existsSync(path.join(fx.project, "ready")), 20_000)).toBe(true);
    await hostGit(fx, fx.project, ["worktree", "add", "-q", added]);
    const r = await running;
    await hostGit(fx, added, ["status", "--short"], true);
    expect(existsSync(marker), "the planted fsmonitor ran on the host's git status in the worktree").toBe(
      false,
    );
    expect(String(r.stdout), describeRun(r)).toBe("kept\nnot-made\n");
  });

  test.each(insideAttacks)(
    "a worktree checked out inside the project is not redirected: %s",
    async (_what, change) => {
      const fx = await fixtures.create(user());
      await repoWithWorktree(fx);
      await hostGit(fx, fx.project, ["worktree", "add", "-q", F]);
      await expectKept(fx, change, path.join(fx.project, F));
    },
  );

  test("the agent still commits in the project and in a worktree inside it; adding a worktree is for the host", async () => {
    const fx = await fixtures.create(user());
    await repoWithWorktree(fx);
    await hostGit(fx, fx.project, ["worktree", "add", "-q", F]);
    const work = [
      `echo a > a.txt && git add a.txt && ${GIT} commit -q -m a && echo committed-main`,
      `cd ${F} && echo b > b.txt && git add b.txt && ${GIT} commit -q -m b && echo committed-worktree && cd ../..`,
      "git worktree add -q elsewhere 2>/dev/null && echo added || echo add-refused",
    ].join("\n");
    const r = await inSandbox(fx, work);
    expect(String(r.stdout), describeRun(r)).toBe("committed-main\ncommitted-worktree\nadd-refused\n");
    const log = await hostGit(fx, path.join(fx.project, F), ["log", "--format=%s", "-1"]);
    expect(String(log.stdout).trim()).toBe("b");
  });
});
