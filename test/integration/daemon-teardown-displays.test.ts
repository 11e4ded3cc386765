// No path that kills an Xvfb may leave its socket in /tmp/.X11-unix behind, and a stale socket left by someone
// else must not keep a manager from finding a display.
import { chmod, chown, lstat, readFile, rm } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { Backend } from "../../client/index.js";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import { requires } from "../helpers/requires.js";
import { ensureTestUser } from "../helpers/sandbox-user.js";
import { makeStaleSocket } from "../helpers/stale-socket.js";
import { cleanupStateDir, stopDaemon } from "../helpers/start-daemon.js";

const fx = useDaemonFixture();
// Skipped, saying why, on a machine without root (it makes sockets as root for an unprivileged manager).
const missing = requires("root");
// Display numbers of their own, so X sockets of other daemons on the machine are never mistaken for ours.
const BASE = 4400;

const hasListener = async (path: string) =>
  (await readFile("/proc/net/unix", "latin1")).split("\n").some((line) => line.endsWith(` ${path}`));
const exists = (path: string) =>
  lstat(path).then(
    () => true,
    () => false,
  );

describe.skipIf(missing)("X display sockets", () => {
  it("an unprivileged manager skips display numbers whose stale socket belongs to another user", async () => {
    // Ten stale sockets of root's, as many as a create tries numbers: before, every try failed on one of them.
    const stale = Array.from({ length: 10 }, (_, i) => `/tmp/.X11-unix/X${BASE + i}`);
    fx.cleanupLater(() => Promise.all(stale.map((path) => rm(path, { force: true }))));
    for (const path of stale) {
      await rm(path, { force: true });
      await makeStaleSocket(path);
    }
    const user = ensureTestUser();
    const dir = await fx.stateDir();
    await chown(dir, user.uid, user.gid);
    await chmod(fx.projectDir, 0o777);
    const daemon = await fx.start({ env: { MANAGER_DISPLAY_BASE: String(BASE), HOME: dir }, runAs: user });
    const { sandbox } = await daemon.client.createSandbox({
      name: "past-stale",
      backend: Backend.BUBBLEWRAP,
      projectDir: fx.projectDir,
    });
    expect(sandbox?.displayNum).toBeGreaterThanOrEqual(BASE + stale.length);
  });

  it("cleaning up after a test that left a sandbox running leaves no stale socket of its Xvfb", async () => {
    const daemon = await fx.start({ env: { MANAGER_DISPLAY_BASE: String(BASE + 20) } });
    const { sandbox } = await daemon.client.createSandbox({
      name: "left-running",
      backend: Backend.BUBBLEWRAP,
      projectDir: fx.projectDir,
    });
    const socket = `/tmp/.X11-unix/X${sandbox?.displayNum}`;
    expect(await hasListener(socket)).toBe(true);
    await stopDaemon(daemon);
    await cleanupStateDir(daemon.stateDir);
    expect(await exists(socket)).toBe(false);
  });
});
