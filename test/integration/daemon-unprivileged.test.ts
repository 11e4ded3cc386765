// The daemon as it is meant to be deployed: an unprivileged account, a Unix socket. The socket's 0660 mode is
// the access control: its owner and group members get in, other local users do not.
import { execFile } from "node:child_process";
import { chmod, chown, mkdtemp, realpath, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Backend, SandboxStatus } from "../../client/index.js";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import { requires } from "../helpers/requires.js";
import { ensureTestUser, type SandboxUser } from "../helpers/sandbox-user.js";
import { cleanupStateDir, stopDaemon, xvfbProcesses } from "../helpers/start-daemon.js";
import { waitUntil } from "../helpers/wait.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root");

const NOBODY = 65534;
let user: SandboxUser;
let workDir: string;
const fx = useDaemonFixture();

beforeAll(async () => {
  user = ensureTestUser();
  // World-traversable, so that the socket's own mode is what decides who may connect.
  workDir = await realpath(await mkdtemp(join(tmpdir(), "csm-user-")));
  await chmod(workDir, 0o755);
  await chown(workDir, user.uid, user.gid);
});

afterAll(async () => {
  await cleanupStateDir(workDir);
});

/** Tries to connect to the socket as uid/gid with the given supplementary groups; resolves "connected" or the errno. */
async function connectAs(path: string, uid: number, gid: number, groups: number[]): Promise<string> {
  const script =
    "const s = require('node:net').connect(process.argv[1]);" +
    "s.on('connect', () => { console.log('connected'); s.destroy(); });" +
    "s.on('error', (e) => console.log(e.code));";
  const groupArgs = groups.length === 0 ? ["--clear-groups"] : [`--groups=${groups.join(",")}`];
  const { stdout } = await promisify(execFile)("setpriv", [
    `--reuid=${uid}`,
    `--regid=${gid}`,
    ...groupArgs,
    "--",
    process.execPath,
    "-e",
    script,
    path,
  ]);
  return stdout.trim();
}

describe.skipIf(missing)("the daemon as an unprivileged user on a Unix socket", () => {
  it("runs sandboxes, and lets only the socket's owner and group (and root) in", async () => {
    const stateDir = join(workDir, "state");
    const socketPath = join(workDir, "api.sock");
    const daemon = await fx.start({
      stateDir,
      cwd: workDir,
      env: { MANAGER_LISTEN: `unix:${socketPath}`, HOME: workDir },
      runAs: user,
    });
    const { uid, gid, mode } = await stat(socketPath);
    expect({ uid, gid, mode: (mode & 0o777).toString(8) }).toEqual({
      uid: user.uid,
      gid: user.gid,
      mode: "660",
    });
    expect(((await stat(stateDir)).mode & 0o777).toString(8)).toBe("700");

    expect(await connectAs(socketPath, user.uid, user.gid, [user.gid])).toBe("connected");
    expect(await connectAs(socketPath, NOBODY, NOBODY, [user.gid])).toBe("connected");
    expect(await connectAs(socketPath, NOBODY, NOBODY, [])).toBe("EACCES");

    const client = daemon.client;
    const project = join(workDir, "project");
    await promisify(execFile)("setpriv", [
      `--reuid=${user.uid}`,
      `--regid=${user.gid}`,
      "--init-groups",
      "--",
      "mkdir",
      project,
    ]);
    const { sandbox } = await client.createSandbox({
      name: "as-user",
      backend: Backend.BUBBLEWRAP,
      projectDir: project,
    });
    expect(sandbox?.status).toBe(SandboxStatus.RUNNING);
    const xvfb = await xvfbProcesses(stateDir);
    expect(xvfb).toHaveLength(1);
    expect((await stat(`/proc/${xvfb[0]}`)).uid).toBe(user.uid);
    await waitUntil("the launcher's output", async () =>
      Buffer.from((await client.getLogs({ id: sandbox?.id ?? "" })).data)
        .toString()
        .includes("fixture-launcher DISPLAY="),
    );
    await client.deleteSandbox({ id: sandbox?.id ?? "" });
    await waitUntil("the sandbox's Xvfb to exit", async () => (await xvfbProcesses(stateDir)).length === 0);

    await stopDaemon(daemon, "SIGTERM");
    expect(await daemon.exited()).toEqual({ code: 0, signal: null });
    await expect(stat(socketPath)).rejects.toMatchObject({ code: "ENOENT" });
  });
});
