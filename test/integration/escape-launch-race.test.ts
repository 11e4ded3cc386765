import { randomBytes } from "node:crypto";
import { chmod, chown, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, test } from "vitest";
import {
  describeRun,
  HOST_PATH,
  IDENTITIES,
  type LauncherFixture,
  launch,
  useLauncherFixture,
} from "../helpers/launcher-harness.js";
import { requires } from "../helpers/requires.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root", "userns");

// A sandbox that is already running can write the project (and ~/.claude), so it can swap a path the next
// launch protects for a symlink between the launcher's checks and bwrap's binds. bwrap, binding by path,
// would follow it and bind whatever it points to: the host's ~/.ssh, read-write. Here the swap is made
// deterministic by a `bwrap` first on PATH that swaps the path, then runs the real bwrap: exactly the moment
// a racing sandbox aims for.

const fixtures = useLauncherFixture();

/** A `bwrap` that first replaces PROJECT/NAME by a symlink to TARGET (relative), then runs the real one. */
async function racingBwrap(f: LauncherFixture, name: string, target: string): Promise<string> {
  const bin = path.join(f.root, "racing-bin");
  await mkdir(bin, { recursive: true });
  const file = path.join(bin, "bwrap");
  const script = [
    "#!/bin/bash",
    `cd ${JSON.stringify(f.project)} || exit 97`,
    `mv ${JSON.stringify(name)} ${JSON.stringify(`${name}.swapped`)} && ln -s ${JSON.stringify(target)} ${JSON.stringify(name)}`,
    'exec /usr/bin/bwrap "$@"',
    "",
  ].join("\n");
  await writeFile(file, script);
  await chmod(file, 0o755);
  await chmod(bin, 0o755);
  return `${bin}:${HOST_PATH}`;
}

describe.skipIf(missing).each(IDENTITIES)("racing the launch, as %s", (_name, user) => {
  test("a protected path swapped for a symlink just before bwrap binds it never binds the link's target", async () => {
    const f = await fixtures.create(user());
    const secret = `race-secret-${randomBytes(6).toString("hex")}`;
    // A file outside the project, like ~/.ssh/id_rsa, and a project .mcp.json the launcher keeps read-only.
    const outside = path.join(f.root, "outside-secret");
    await writeFile(outside, `${secret}\n`, { mode: 0o600 });
    await chown(outside, f.user.uid, f.user.gid);
    await writeFile(path.join(f.project, ".mcp.json"), '{"mcpServers":{}}\n');
    await chown(path.join(f.project, ".mcp.json"), f.user.uid, f.user.gid);
    const PATH = await racingBwrap(f, ".mcp.json", "../outside-secret");
    const r = await launch(
      f,
      [
        "--new",
        "--no-network",
        "--shell",
        f.project,
        "--",
        "-c",
        "cat .mcp.json 2>&1; echo; (echo x >> .mcp.json) 2>/dev/null || echo read-only",
      ],
      { env: { PATH } },
    );
    expect(String(r.stdout), describeRun(r)).not.toContain(secret);
    if (r.exitCode === 0) {
      // Started: what the sandbox got at .mcp.json is the file that was checked.
      expect(String(r.stdout)).toContain('{"mcpServers":{}}');
    } else {
      // Or refused: bwrap, binding a checked descriptor, notices the destination moved.
      expect(String(r.stdout), describeRun(r)).toBe("");
      expect(String(r.stderr), describeRun(r)).toMatch(/race/i);
    }
    expect(await readFile(outside, "utf8")).toBe(`${secret}\n`);
  });
});
