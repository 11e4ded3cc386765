// Everything the daemon must refuse, and how it says so: bad configuration, a corrupt state file, a state
// directory or socket already in use, bad create input, a tool missing from PATH.
import { chmod, mkdir, readdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { Backend } from "../../client/index.js";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import { codeOf } from "../helpers/rpc-error.js";
import { makeStaleSocket } from "../helpers/stale-socket.js";
import {
  cleanupStateDir,
  type Daemon,
  type DaemonOptions,
  FIXTURE_BIN,
  makeStateDir,
  runDaemonToExit,
  writeTokenFile,
  xvfbProcesses,
} from "../helpers/start-daemon.js";
import { waitUntil } from "../helpers/wait.js";

const fx = useDaemonFixture();

/** A further directory for the test (another state directory, a token file), torn down after it. */
async function stateDir(): Promise<string> {
  const dir = await makeStateDir();
  fx.cleanupLater(() => cleanupStateDir(dir));
  return dir;
}

/** A daemon on the test's state directory or on `options.stateDir`; killed after the test. */
function start(options: DaemonOptions = {}): Promise<Daemon> {
  return fx.start(options);
}

describe("configuration", () => {
  it.each([
    ["MANAGER_LISTEN", "0.0.0.0:3000", "MANAGER_ALLOW_NON_LOOPBACK=1"],
    ["MANAGER_LISTEN", "localhost", "expected host:port"],
    ["MANAGER_SCREEN", "huge", "expected WIDTHxHEIGHTxDEPTH"],
    ["MANAGER_DISPLAY_BASE", "-3", "expected a display number"],
    ["MANAGER_ALLOW_NON_LOOPBACK", "maybe", "expected 1 or 0"],
    ["MANAGER_LAUNCHER_VM", "./vm", "expected a command name found on PATH or an absolute path"],
  ])("%s=%s makes the daemon exit 2 with a message naming the variable", async (variable, value, problem) => {
    const dir = await stateDir();
    const result = await runDaemonToExit({ MANAGER_STATE_DIR: join(dir, "state"), [variable]: value });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`configuration error: ${variable}=${JSON.stringify(value)}`);
    expect(result.stderr).toContain(problem);
    // Nothing is created before the configuration is valid.
    await expect(stat(join(dir, "state"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("creates a missing state directory with mode 0700 and warns about an unknown MANAGER_ variable", async () => {
    const dir = join(await stateDir(), "nested", "state");
    const daemon = await start({ stateDir: dir, env: { MANAGER_LISTN: "typo" } });
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect(daemon.stderr()).toContain("warning: ignoring MANAGER_LISTN, which is not a setting");
  });

  it("warns when an existing state directory is open to other users", async () => {
    const dir = await stateDir();
    await chmod(dir, 0o755);
    const daemon = await start({ stateDir: dir });
    expect(daemon.stderr()).toContain(
      `warning: state directory ${dir} is accessible to other users (mode 755)`,
    );
  });

  it("uses ./state in the working directory by default", async () => {
    const cwd = await stateDir();
    const daemon = await start({ stateDir: cwd, cwd, env: { MANAGER_STATE_DIR: "" } });
    expect(daemon.stderr()).toContain(`(state in ${join(cwd, "state")})`);
    expect((await stat(join(cwd, "state", "state.json"))).isFile()).toBe(true);
    await cleanupStateDir(join(cwd, "state"));
  });
});

describe("state", () => {
  it("refuses to start on a corrupt state file, naming it, and keeps it untouched", async () => {
    const dir = await stateDir();
    const file = join(dir, "state.json");
    await writeFile(file, '{"schema_version": 1, "sandboxes": [trunc');
    const result = await runDaemonToExit({ MANAGER_STATE_DIR: dir });
    expect(result.code).not.toBe(0);
    expect(result.code).not.toBeNull();
    expect(result.stderr).toContain("cannot start:");
    expect(result.stderr).toContain(file);
    expect(await readFile(file, "utf8")).toBe('{"schema_version": 1, "sandboxes": [trunc');
  });

  it("refuses a state directory that is a file, naming it", async () => {
    const file = join(await stateDir(), "not-a-dir");
    await writeFile(file, "");
    const result = await runDaemonToExit({ MANAGER_STATE_DIR: file });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `cannot use state directory: ${file} (or a parent) exists and is not a directory`,
    );
  });

  it("refuses a second daemon on the same state directory and leaves the first one working", async () => {
    const first = await start();
    const result = await runDaemonToExit({
      MANAGER_STATE_DIR: first.stateDir,
      MANAGER_LISTEN: "127.0.0.1:1",
      MANAGER_TOKEN_FILE: (await writeTokenFile(await stateDir())).path,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/another manager \(pid \d+\) is using state directory/);
    expect(await first.client.listSandboxes({})).toBeDefined();
  });
});

describe("unix socket", () => {
  it("replaces a stale socket left by a killed manager", async () => {
    const dir = await stateDir();
    await makeStaleSocket(join(dir, "api.sock"));
    const daemon = await start({ stateDir: dir, transport: "unix" });
    expect(await daemon.client.listSandboxes({})).toBeDefined();
  });

  it("refuses to take over the socket of a running manager", async () => {
    const first = await start({ transport: "unix" });
    const other = await stateDir();
    const result = await runDaemonToExit({
      MANAGER_STATE_DIR: other,
      MANAGER_LISTEN: `unix:${first.socketPath}`,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot listen on unix:${first.socketPath}: another process`);
    expect(await first.client.listSandboxes({})).toBeDefined();
  });

  it("reports a TCP port in use", async () => {
    const first = await start({ transport: "tcp" });
    const port = new URL(first.address).port;
    const other = await stateDir();
    const result = await runDaemonToExit({
      MANAGER_STATE_DIR: other,
      MANAGER_LISTEN: `127.0.0.1:${port}`,
      MANAGER_TOKEN_FILE: (await writeTokenFile(other)).path,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot listen on http://127.0.0.1:${port}: EADDRINUSE`);
  });
});

describe("CreateSandbox input", () => {
  it("answers invalid_argument naming the field for each bad input, and starts nothing", async () => {
    const daemon = await start();
    const file = join(fx.projectDir, "a-file");
    await writeFile(file, "");
    const good = { name: "ok", backend: Backend.BUBBLEWRAP, projectDir: fx.projectDir };
    const cases: [string, { name?: string; backend?: Backend; projectDir?: string; agentArgs?: string[] }][] =
      [
        ["name", { name: "" }],
        ["name", { name: "x".repeat(129) }],
        ["name", { name: "bell\u0007" }],
        ["name", { name: "two\nlines" }],
        ["backend", { backend: Backend.UNSPECIFIED }],
        ["project_dir", { projectDir: "" }],
        ["project_dir", { projectDir: "relative/path" }],
        ["project_dir", { projectDir: join(fx.projectDir, "does-not-exist") }],
        ["project_dir", { projectDir: file }],
        ["agent_args[1]", { agentArgs: ["fine", "nul\0inside"] }],
      ];
    for (const [field, override] of cases) {
      const result = await codeOf(daemon.client.createSandbox({ ...good, ...override }));
      expect(result.code, `${JSON.stringify(override)} → ${result.message}`).toBe(Code.InvalidArgument);
      expect(result.message.startsWith(`${field}:`), result.message).toBe(true);
    }
    expect((await daemon.client.listSandboxes({})).sandboxes).toEqual([]);
    expect(await xvfbProcesses(daemon.stateDir)).toEqual([]);
    expect(await readdir(join(daemon.stateDir, "logs"))).toEqual([]);
    // A client's mistakes are the client's business: nothing in the daemon's log.
    expect(daemon.stderr()).not.toContain("failed");
  });

  it("answers failed_precondition naming Xvfb and its package when Xvfb is not on PATH", async () => {
    const dir = await stateDir();
    const bin = join(dir, "bin-without-xvfb");
    await mkdir(bin);
    // Every tool from the system's bin directories except Xvfb, so only that one is missing.
    for (const source of ["/usr/bin", "/bin"]) {
      for (const name of await readdir(source)) {
        if (name === "Xvfb") continue;
        await symlink(join(source, name), join(bin, name)).catch(() => {});
      }
    }
    const daemon = await start({ stateDir: join(dir, "state"), env: { PATH: `${FIXTURE_BIN}:${bin}` } });
    const result = await codeOf(
      daemon.client.createSandbox({
        name: "no-display",
        backend: Backend.BUBBLEWRAP,
        projectDir: fx.projectDir,
      }),
    );
    expect(result.code).toBe(Code.FailedPrecondition);
    expect(result.message).toContain("Xvfb");
    expect(result.message).toContain("Debian package: xvfb");
    expect((await daemon.client.listSandboxes({})).sandboxes).toEqual([]);
    // The operator hears about it too, in one line.
    await waitUntil("the daemon's log line", () =>
      daemon.stderr().includes("CreateSandbox failed: Xvfb was not found"),
    );
    expect(daemon.stderr()).not.toContain("    at ");
    await cleanupStateDir(join(dir, "state"));
  });

  it("answers failed_precondition naming the launcher when it is not on PATH", async () => {
    const daemon = await start({ env: { MANAGER_LAUNCHER_CONTAINER: "no-such-launcher" } });
    const result = await codeOf(
      daemon.client.createSandbox({
        name: "no-launcher",
        backend: Backend.CONTAINER,
        projectDir: fx.projectDir,
      }),
    );
    expect(result.code).toBe(Code.FailedPrecondition);
    expect(result.message).toContain("no-such-launcher");
    expect((await daemon.client.listSandboxes({})).sandboxes).toEqual([]);
    expect(await xvfbProcesses(daemon.stateDir)).toEqual([]);
  });
});
