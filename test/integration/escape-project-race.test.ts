import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, chown, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { userDir } from "../helpers/host-side.js";
import {
  describeRun,
  HOST_PATH,
  IDENTITIES,
  type LauncherFixture,
  launch,
  startLive,
  useLauncherFixture,
} from "../helpers/launcher-harness.js";
import { requires } from "../helpers/requires.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root", "userns");

// A sandbox of a parent directory can write the path of the project another launch is starting, and swap it for a
// symlink to ~/.ssh at any moment (renameat2 RENAME_EXCHANGE in a loop). Whatever the launcher or bwrap does with
// the path after checking it would then land in ~/.ssh: bwrap binding it read-write as the project, mkdir creating
// ~/.ssh/.claude. Two tests make the swap deterministic with a racing `bwrap` or `mkdir` first on PATH (the moments
// a racer aims for); one runs a real racer in a sandbox of the parent for a hundred launches.

const fixtures = useLauncherFixture();

interface Race {
  fx: LauncherFixture;
  /** The parent directory a sandbox would be racing in, and the project in it. */
  work: string;
  project: string;
  ssh: string;
  secret: string;
}

/** A project in a directory of the user's own, and a ~/.ssh holding a key. */
async function raceSetup(fx: LauncherFixture): Promise<Race> {
  const work = await userDir(fx, "work");
  const project = await userDir(fx, "work", "project");
  const ssh = path.join(fx.home, ".ssh");
  await mkdir(ssh, { mode: 0o700 });
  const secret = `race-key-${randomBytes(6).toString("hex")}`;
  await writeFile(path.join(ssh, "id_ed25519"), `${secret}\n`, { mode: 0o600 });
  for (const p of [ssh, path.join(ssh, "id_ed25519")]) await chown(p, fx.user.uid, fx.user.gid);
  return { fx, work, project, ssh, secret };
}

/** A TOOL first on PATH that, the first time it runs, swaps the project for a symlink to ~/.ssh, then runs the real one. */
async function racing(race: Race, tool: string): Promise<string> {
  const bin = path.join(race.fx.root, "racing-bin");
  await mkdir(bin, { recursive: true });
  const done = path.join(race.fx.root, "racing-done");
  const q = JSON.stringify;
  const script = [
    "#!/bin/bash",
    `if [[ ! -e ${q(done)} ]]; then`,
    `  : > ${q(done)}`,
    `  mv ${q(race.project)} ${q(`${race.project}.real`)} && ln -s ${q(race.ssh)} ${q(race.project)}`,
    "fi",
    `exec /usr/bin/${tool} "$@"`,
    "",
  ].join("\n");
  await writeFile(path.join(bin, tool), script);
  await chmod(path.join(bin, tool), 0o755);
  await chmod(bin, 0o755);
  await chmod(race.fx.root, 0o777); // the racing tool, run as the user, leaves its flag there
  return `${bin}:${HOST_PATH}`;
}

/** What a sandbox given ~/.ssh as its project would do: read the key, plant a key of its own. */
const ATTACK = "cat id_ed25519 2>/dev/null; (echo planted >> authorized_keys) 2>/dev/null; echo done";

async function sshUnchanged(race: Race) {
  expect(existsSync(path.join(race.ssh, ".claude")), "~/.ssh/.claude was created on the host").toBe(false);
  expect((await readdir(race.ssh)).sort(), "~/.ssh changed on the host").toEqual(["id_ed25519"]);
}

describe.skipIf(missing).each(IDENTITIES)("racing the project path, as %s", (_name, user) => {
  test("the project swapped for a link to ~/.ssh just before bwrap binds it: ~/.ssh is never bound", async () => {
    const race = await raceSetup(await fixtures.create(user()));
    await mkdir(path.join(race.project, ".claude"));
    await chown(path.join(race.project, ".claude"), race.fx.user.uid, race.fx.user.gid);
    const PATH = await racing(race, "bwrap");
    const r = await launch(race.fx, ["--new", "--no-network", "--shell", race.project, "--", "-c", ATTACK], {
      env: { PATH },
    });
    expect(existsSync(path.join(race.fx.root, "racing-done")), "the racing bwrap did not run").toBe(true);
    expect(String(r.stdout), describeRun(r)).not.toContain(race.secret);
    await sshUnchanged(race);
    // What the sandbox got is the directory that was checked (now at project.real), or nothing.
    if (r.exitCode === 0)
      expect(await readFile(path.join(`${race.project}.real`, "authorized_keys"), "utf8")).toBe("planted\n");
  });

  test("the project swapped for a link to ~/.ssh while the launcher sets it up: nothing is created in ~/.ssh", async () => {
    const race = await raceSetup(await fixtures.create(user()));
    // No .claude yet: the launcher creates one, and its first mkdir swaps the project.
    const PATH = await racing(race, "mkdir");
    const r = await launch(race.fx, ["--new", "--no-network", "--shell", race.project, "--", "-c", ATTACK], {
      env: { PATH },
    });
    expect(existsSync(path.join(race.fx.root, "racing-done")), "the racing mkdir did not run").toBe(true);
    expect(String(r.stdout), describeRun(r)).not.toContain(race.secret);
    await sshUnchanged(race);
    if (r.exitCode === 0) expect(existsSync(path.join(`${race.project}.real`, ".claude"))).toBe(true);
  });

  test("a sandbox of the parent directory swapping the project in a loop never gets ~/.ssh bound (100 launches)", async () => {
    const race = await raceSetup(await fixtures.create(user()));
    // The project has no .claude or .git yet: a sandbox of the parent pins those it finds (so they cannot be
    // swapped), and the racer must be free to swap.
    const stop = path.join(race.work, "stop");
    // The racer: RENAME_EXCHANGE of the project and a link to ~/.ssh, as fast as it goes, until told to stop;
    // it counts the swaps that worked.
    const racer = [
      `ln -sfn ${JSON.stringify(race.ssh)} lnk`,
      "python3 -c '",
      "import ctypes, os, time",
      "libc = ctypes.CDLL(None, use_errno=True)",
      "end, swaps = time.time() + 120, 0",
      'open("racing", "w").close()',
      'while not os.path.exists("stop") and time.time() < end:',
      '    swaps += libc.renameat2(-100, b"project", -100, b"lnk", 2) == 0',
      'open("swaps", "w").write(str(swaps))',
      "'",
    ].join("\n");
    const running = launch(race.fx, ["--new", "--no-network", "--shell", race.work, "--", "-c", racer], {
      timeoutMs: 150_000,
    });
    const outcomes = new Map<string, number>();
    try {
      for (let i = 0; i < 200 && !existsSync(path.join(race.work, "racing")); i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(existsSync(path.join(race.work, "racing")), "the racer did not start").toBe(true);
      const leaked: string[] = [];
      for (let i = 0; i < 100; i++) {
        const r = await launch(race.fx, [
          "--new",
          "--no-network",
          "--shell",
          race.project,
          "--",
          "-c",
          ATTACK,
        ]);
        if (String(r.stdout).includes(race.secret)) leaked.push(`launch ${i}: ${describeRun(r)}`);
        const outcome =
          r.exitCode === 0 ? "started" : (String(r.stderr).split("\n")[0] ?? "").replace(/'[^']*'/g, "…");
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }
      expect(leaked, "launches that got ~/.ssh as their project").toEqual([]);
      await sshUnchanged(race);
    } finally {
      await writeFile(stop, "");
      await chown(stop, race.fx.user.uid, race.fx.user.gid);
      await running;
    }
    const swaps = Number(await readFile(path.join(race.work, "swaps"), "utf8").catch(() => "0"));
    expect(swaps, `the racer's swaps; launches: ${JSON.stringify([...outcomes])}`).toBeGreaterThan(1000);
    // Under so fast a racer most launches are refused (naming the race or the protected path): the race costs
    // launches, never ~/.ssh.
  }, 240_000);

  test("the project's descriptor never reaches a shell that joins the live sandbox", async () => {
    const fx = await fixtures.create(user());
    // A file the host has next to the project, out of the sandbox's sight.
    const outside = path.join(fx.root, `outside-${randomBytes(4).toString("hex")}`);
    await writeFile(outside, "");
    const { live } = await startLive(fx, ["--no-network"]);
    try {
      // Any descriptor of a host directory would let a process walk up from it, out of the sandbox.
      const probe = `python3 -c '
import os
for fd in os.listdir("/proc/self/fd"):
    try:
        if ${JSON.stringify(path.basename(outside))} in os.listdir("/proc/self/fd/%s/.." % fd): print("escaped through", fd)
    except OSError: pass
print("checked")'`;
      for (const args of [["--enter"], ["--no-network", "--shell"]]) {
        const r = await launch(fx, [...args, fx.project, "--", "-c", probe]);
        expect(String(r.stdout), `${args.join(" ")}: ${describeRun(r)}`).toBe("checked\n");
      }
    } finally {
      await launch(fx, ["--stop", fx.project]);
      await live;
    }
  });
});
