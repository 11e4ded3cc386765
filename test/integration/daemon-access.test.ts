// Who can use the manager, and what they can ask of it (issue: "any local user gets root through the manager").
// A real daemon from dist/, real sockets, real users: the unprivileged test user and nobody (65534) run the
// compiled client (test/fixtures/manager-client.mjs) through setpriv, as a local attacker would.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, chown, mkdir, mkdtemp, readdir, realpath, rm, stat, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Backend, createSandboxClient, SandboxService, SandboxStatus } from "../../client/index.js";
import { REPO_ROOT } from "../helpers/build.js";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import { freePort } from "../helpers/free-port.js";
import { requires } from "../helpers/requires.js";
import { codeOf } from "../helpers/rpc-error.js";
import { ensureTestUser, type SandboxUser } from "../helpers/sandbox-user.js";
import {
  cleanupStateDir,
  type Daemon,
  type DaemonOptions,
  runDaemonToExit,
  typeIntoPane,
  xvfbProcesses,
} from "../helpers/start-daemon.js";
import { waitUntil } from "../helpers/wait.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root");

const CLIENT = join(REPO_ROOT, "test/fixtures/manager-client.mjs");
const LAUNCHER = join(REPO_ROOT, "launcher/bubblewrap/claude-sandbox");
const NOBODY = 65534;

interface Identity {
  uid: number;
  gid: number;
  /** Supplementary groups; "init" takes them from the user database (as a login would). */
  groups: number[] | "init";
}

type Result = { ok: Record<string, unknown> } | { error: { code: string; message: string } };
type Call = { rpc: string; request: object; until?: string; timeoutMs?: number };

let user: SandboxUser;
let asUser: Identity;
let workDir: string;
const fx = useDaemonFixture();

beforeAll(async () => {
  user = ensureTestUser();
  asUser = { uid: user.uid, gid: user.gid, groups: "init" };
  // World-searchable, so that a socket placed in it is reachable and its own mode and owner decide.
  workDir = await realpath(await mkdtemp(join(tmpdir(), "csm-access-")));
  await chmod(workDir, 0o755);
});

afterAll(async () => {
  await cleanupStateDir(workDir);
});

/** A daemon on a state directory the test prepared (`options.stateDir`), torn down with it after the test. */
function start(options: DaemonOptions & { stateDir: string }): Promise<Daemon> {
  return fx.start(options);
}

/** A fresh directory under the work dir, with the given owner and mode. */
async function dir(name: string, mode: number, owner?: { uid: number; gid: number }): Promise<string> {
  const path = await mkdtemp(join(workDir, `${name}-`));
  if (owner !== undefined) await chown(path, owner.uid, owner.gid);
  await chmod(path, mode);
  return path;
}

/** Runs the client fixture as `who`; resolves with its results in order. */
async function callAs(who: Identity, address: string, calls: Call[], token?: string): Promise<Result[]> {
  const groups =
    who.groups === "init"
      ? ["--init-groups"]
      : who.groups.length === 0
        ? ["--clear-groups"]
        : [`--groups=${who.groups.join(",")}`];
  const { stdout } = await promisify(execFile)(
    "setpriv",
    [
      `--reuid=${who.uid}`,
      `--regid=${who.gid}`,
      ...groups,
      "--",
      process.execPath,
      CLIENT,
      JSON.stringify({ address, token, calls }),
    ],
    { cwd: "/", timeout: 60_000 },
  );
  return JSON.parse(stdout) as Result[];
}

function errorOf(result: Result | undefined): { code: string; message: string } {
  if (result === undefined || !("error" in result))
    throw new Error(`expected an error, got ${JSON.stringify(result)}`);
  return result.error;
}

/** A root-only directory holding a secret, as /root or a service's 0700 state would. */
async function secretDir(): Promise<{ path: string; secret: string }> {
  const path = await dir("secret", 0o700);
  const secret = `secret-${randomBytes(12).toString("hex")}`;
  await writeFile(join(path, "secret.txt"), `${secret}\n`, { mode: 0o600 });
  return { path, secret };
}

/** What the attacker tries: a shell sandbox of the directory that prints the secret and plants a file. */
function attack(projectDir: string, secret: string): Call[] {
  return [
    {
      rpc: "createSandbox",
      request: {
        name: "attack",
        backend: Backend.BUBBLEWRAP,
        projectDir,
        network: false,
        shell: true,
        agentArgs: ["-c", "cat secret.txt; echo planted > planted-by-sandbox; exec sleep 60"],
      },
    },
    { rpc: "getLogs", request: { id: "$created" }, until: secret, timeoutMs: 30_000 },
  ];
}

/** The daemon did nothing: no sandbox, no log, no display, and nothing planted in `project`. */
async function expectNothingDone(daemon: Daemon, project?: string): Promise<void> {
  expect((await daemon.client.listSandboxes({})).sandboxes).toEqual([]);
  expect(await readdir(join(daemon.stateDir, "logs"))).toEqual([]);
  expect(await xvfbProcesses(daemon.stateDir)).toEqual([]);
  if (project !== undefined) expect(existsSync(join(project, "planted-by-sandbox"))).toBe(false);
}

describe.skipIf(missing)("a root manager and the local users", () => {
  it("the issue's attack: a local user asks the manager as started by default for a 0700 root dir with a shell, and gets nothing", async () => {
    const { path, secret } = await secretDir();
    const daemon = await start({
      stateDir: await dir("state", 0o700),
      transport: "default",
      env: { MANAGER_LAUNCHER_BUBBLEWRAP: LAUNCHER, XDG_STATE_HOME: join(workDir, "launcher-state") },
    });
    // The attacker goes wherever the manager says it listens.
    const results = await callAs(asUser, daemon.address, attack(path, secret));
    expect(JSON.stringify(results)).not.toContain(secret);
    expect(errorOf(results[0]).code).toBe("PermissionDenied");
    await expectNothingDone(daemon, path);
  });

  it("a user outside the socket's group cannot connect at all, even once the socket's mode lets it", async () => {
    const socket = join(workDir, `outside-${randomBytes(4).toString("hex")}.sock`);
    const daemon = await start({
      stateDir: await dir("state", 0o700),
      env: { MANAGER_LISTEN: `unix:${socket}`, MANAGER_SOCKET_GROUP: String(user.gid) },
    });
    const info = await stat(socket);
    expect({ uid: info.uid, gid: info.gid, mode: (info.mode & 0o777).toString(8) }).toEqual({
      uid: 0,
      gid: user.gid,
      mode: "660",
    });
    const outsider: Identity = { uid: NOBODY, gid: NOBODY, groups: [] };
    const list = [{ rpc: "listSandboxes", request: {} }];
    // The kernel refuses the connection (the socket's mode).
    const byKernel = errorOf((await callAs(outsider, daemon.address, list))[0]);
    expect(byKernel).toMatchObject({
      code: "PermissionDenied",
      message: expect.stringContaining("permission denied opening"),
    });
    // With the mode widened, the daemon still refuses the peer it sees, before any RPC runs.
    await chmod(socket, 0o666);
    const { path, secret } = await secretDir();
    const byDaemon = await callAs(outsider, daemon.address, attack(path, secret));
    expect(errorOf(byDaemon[0])).toMatchObject({
      code: "PermissionDenied",
      message: expect.stringContaining(`uid ${NOBODY} (pid`),
    });
    expect(errorOf(byDaemon[0]).message).toContain(`members of group ${user.gid} may use it`);
    expect(errorOf((await callAs(outsider, daemon.address, list))[0]).code).toBe("PermissionDenied");
    expect(daemon.stderr()).toMatch(
      new RegExp(`refused a connection on unix:${socket}: uid ${NOBODY} \\(pid \\d+\\)`),
    );
    // Members get in: by their primary group, or by a supplementary one.
    expect(await callAs(asUser, daemon.address, list)).toEqual([
      { ok: expect.objectContaining({ sandboxes: [] }) },
    ]);
    const member: Identity = { uid: NOBODY, gid: NOBODY, groups: [user.gid] };
    expect(await callAs(member, daemon.address, list)).toEqual([
      { ok: expect.objectContaining({ sandboxes: [] }) },
    ]);
    await expectNothingDone(daemon, path);
  });

  it("a member of the socket's group creates a sandbox in a directory it owns, and nowhere it could not write", async () => {
    const socket = join(workDir, `member-${randomBytes(4).toString("hex")}.sock`);
    const daemon = await start({
      stateDir: await dir("state", 0o700),
      env: { MANAGER_LISTEN: `unix:${socket}`, MANAGER_SOCKET_GROUP: String(user.gid) },
    });
    const own = await dir("own", 0o755, user);
    const [created] = await callAs(asUser, daemon.address, [
      { rpc: "createSandbox", request: { name: "mine", backend: Backend.BUBBLEWRAP, projectDir: own } },
    ]);
    expect(created).toMatchObject({
      ok: { sandbox: expect.objectContaining({ projectDir: own, status: SandboxStatus.RUNNING }) },
    });

    // The attack from inside the group: refused because the member could not write the directory.
    const { path, secret } = await secretDir();
    const attacked = await callAs(asUser, daemon.address, attack(path, secret));
    expect(JSON.stringify(attacked)).not.toContain(secret);
    expect(errorOf(attacked[0])).toMatchObject({ code: "PermissionDenied" });
    expect(errorOf(attacked[0]).message).toBe(
      `project_dir: ${JSON.stringify(path)}: uid ${user.uid} (${user.name}) could not write it: it is mode 0700, owner uid 0, group 0, which gives uid ${user.uid} (${user.name}) no write permission`,
    );
    expect(existsSync(join(path, "planted-by-sandbox"))).toBe(false);

    const readable = await dir("root-755", 0o755);
    const locked = await dir("locked", 0o700);
    const inner = join(locked, "open");
    await mkdir(inner);
    await chmod(inner, 0o777);
    const cases: [string, string, string][] = [
      [readable, "PermissionDenied", "no write permission"],
      [
        inner,
        "PermissionDenied",
        `${locked} is mode 0700, owner uid 0, group 0, which gives uid ${user.uid} (${user.name}) no search permission`,
      ],
      ["/opt", "InvalidArgument", 'refusing "/opt": it is or holds /opt'],
      ["/srv", "InvalidArgument", 'refusing "/srv"'],
      ["/home", "InvalidArgument", 'refusing "/home"'],
      ["/mnt", "InvalidArgument", 'refusing "/mnt"'],
      ["/var/log", "InvalidArgument", 'refusing "/var/log": it is part of the host system (/var/log)'],
      ["/root/.cargo", "InvalidArgument", "a dot directory of the home /root"],
      [join(REPO_ROOT, "launcher"), "InvalidArgument", "the manager's own installation"],
    ];
    for (const [projectDir, code, message] of cases) {
      if (!existsSync(projectDir)) continue;
      const [result] = await callAs(asUser, daemon.address, [
        {
          rpc: "createSandbox",
          request: { name: "x", backend: Backend.BUBBLEWRAP, projectDir, shell: true },
        },
      ]);
      expect(errorOf(result), projectDir).toMatchObject({ code, message: expect.stringContaining(message) });
      expect(errorOf(result).message, projectDir).toContain("project_dir: ");
    }
    // Nothing was started or stored for any refusal.
    const sandboxes = (await daemon.client.listSandboxes({})).sandboxes;
    expect(sandboxes.map((s) => s.projectDir)).toEqual([own]);
    expect(await readdir(join(daemon.stateDir, "logs"))).toHaveLength(1);
    expect(await xvfbProcesses(daemon.stateDir)).toHaveLength(1);
    // A client's refusals are the client's business: nothing in the daemon's log.
    expect(daemon.stderr()).not.toContain("CreateSandbox failed");
  });

  it("a member who swaps the checked directory for a link to a root dir after the check still gets the checked one", async () => {
    const socket = join(workDir, `swap-${randomBytes(4).toString("hex")}.sock`);
    const daemon = await start({
      stateDir: await dir("state", 0o700),
      env: { MANAGER_LISTEN: `unix:${socket}`, MANAGER_SOCKET_GROUP: String(user.gid) },
    });
    const parent = await dir("swap", 0o755, user);
    const project = join(parent, "project");
    await mkdir(project);
    await chown(project, user.uid, user.gid);
    const { path: secret } = await secretDir();
    const [created] = await callAs(asUser, daemon.address, [
      { rpc: "createSandbox", request: { name: "swap", backend: Backend.BUBBLEWRAP, projectDir: project } },
    ]);
    const sandbox = (created as { ok: { sandbox: { id: string; tmuxSession: string } } }).ok.sandbox;
    // The launcher's first report comes before the swap: on a busy machine it could start after it, and then
    // report the moved directory (its descriptor follows the rename) twice.
    await waitUntil("the launcher's first report", async () =>
      Buffer.from((await daemon.client.getLogs({ id: sandbox.id })).data)
        .toString()
        .includes("fixture-launcher project: "),
    );
    // The member renames the checked directory away and puts a link to the root-only one at its path.
    await promisify(execFile)("setpriv", [
      `--reuid=${user.uid}`,
      `--regid=${user.gid}`,
      "--init-groups",
      "--",
      "sh",
      "-c",
      'mv "$1/project" "$1/moved" && ln -s "$2" "$1/project"',
      "sh",
      parent,
      secret,
    ]);
    // The launcher resolves its project argument now, after the swap.
    await typeIntoPane(daemon.stateDir, sandbox.tmuxSession, "project");
    let logs = "";
    await waitUntil("the launcher's answer", async () => {
      logs = Buffer.from((await daemon.client.getLogs({ id: sandbox.id })).data).toString();
      return /fixture-got: project\r?\nfixture-launcher project: /.test(logs);
    });
    const resolved = [...logs.matchAll(/fixture-launcher project: (\S+)/g)].map((m) => m[1]);
    expect(resolved).toEqual([project, join(parent, "moved")]);
    expect(logs).not.toContain(secret);
  });

  it("root itself is refused every protected path, each named with the reason", async () => {
    const home = await dir("home", 0o700);
    for (const sub of [".ssh", ".cargo/bin", "project"]) await mkdir(join(home, sub), { recursive: true });
    const rootDot = await mkdtemp("/root/.csbx-access-");
    fx.cleanupLater(() => rm(rootDot, { recursive: true, force: true }));
    await mkdir(join(rootDot, "bin"));
    const stateDir = join(await dir("holder", 0o700), "state");
    const daemon = await start({ stateDir, env: { HOME: home } });
    const cases: [string, string][] = [
      ["/", "it is the whole host"],
      ["/etc", "part of the host system (/etc)"],
      ["/usr/lib", "part of the host system (/usr)"],
      ["/var/lib", "part of the host system (/var/lib)"],
      ["/var/log", "part of the host system (/var/log)"],
      ["/run", "part of the host system (/run)"],
      ["/var", "it is or holds /var"],
      ["/tmp", "it is or holds /tmp"],
      ["/home", "it is or holds /home"],
      ["/opt", "it is or holds /opt"],
      ["/srv", "it is or holds /srv"],
      ["/mnt", "it is or holds /mnt"],
      ["/media", "it is or holds /media"],
      ["/root", "it contains the home directory /root"],
      [join(rootDot, "bin"), `it lies inside ${rootDot}, a dot directory of the home /root`],
      ["/root/.cargo/bin", "it lies inside /root/.cargo, a dot directory of the home /root"],
      [home, `it contains the home directory ${home}`],
      [join(home, ".ssh"), `it lies inside ${join(home, ".ssh")}, a dot directory`],
      [join(home, ".cargo/bin"), `it lies inside ${join(home, ".cargo")}, a dot directory`],
      [stateDir, "the manager's state directory"],
      [join(stateDir, "logs"), "the manager's state directory"],
      [join(stateDir, ".."), "the manager's state directory"],
      [join(REPO_ROOT, "launcher"), "the manager's own installation"],
    ];
    for (const [projectDir, why] of cases) {
      if (!existsSync(projectDir)) continue;
      const result = await codeOf(
        daemon.client.createSandbox({ name: "x", backend: Backend.BUBBLEWRAP, projectDir, shell: true }),
      );
      expect(result.code, `${projectDir}: ${result.message}`).toBe(Code.InvalidArgument);
      expect(result.message, projectDir).toMatch(/^project_dir: refusing "/);
      expect(result.message, projectDir).toContain(why);
    }
    // A project of root's own is fine.
    const { sandbox } = await daemon.client.createSandbox({
      name: "ok",
      backend: Backend.BUBBLEWRAP,
      projectDir: join(home, "project"),
    });
    expect(sandbox?.status).toBe(SandboxStatus.RUNNING);
    expect((await daemon.client.listSandboxes({})).sandboxes).toHaveLength(1);
  });
});

describe.skipIf(missing)("TCP", () => {
  it("refuses to start without a token file, or with one others can read or a weak token, naming MANAGER_TOKEN_FILE", async () => {
    const base = await dir("tcp-refusals", 0o700);
    const listen = `127.0.0.1:${await freePort()}`;
    const loose = join(base, "loose");
    await writeFile(loose, `${randomBytes(32).toString("hex")}\n`, { mode: 0o644 });
    const weak = join(base, "weak");
    await writeFile(weak, "short\n", { mode: 0o600 });
    const cases: [Record<string, string>, string][] = [
      [{}, "configuration error: MANAGER_TOKEN_FILE is not set, and a TCP listener"],
      [
        { MANAGER_TOKEN_FILE: loose },
        `MANAGER_TOKEN_FILE="${loose}": is accessible to other users (mode 0644); chmod 600 it`,
      ],
      [{ MANAGER_TOKEN_FILE: weak }, "must hold one token of at least 32 visible ASCII characters"],
      [{ MANAGER_TOKEN_FILE: join(base, "missing") }, "does not exist"],
    ];
    for (const [env, message] of cases) {
      const state = join(base, "state");
      const result = await runDaemonToExit({ MANAGER_STATE_DIR: state, MANAGER_LISTEN: listen, ...env });
      expect(result.code, message).toBe(2);
      expect(result.stderr).toContain(message);
      expect(existsSync(state)).toBe(false);
    }
  });

  it("answers a missing or wrong token with unauthenticated (HTTP 401) and does nothing; the token holder acts as the daemon's user", async () => {
    const daemon = await start({ stateDir: await dir("state", 0o700), transport: "tcp" });
    const { port } = new URL(daemon.address);
    const project = await dir("tcp-project", 0o700);
    const body = { name: "x", backend: "BACKEND_BUBBLEWRAP", projectDir: project, shell: true };
    for (const authorization of [
      undefined,
      "Bearer wrong-token-0123456789abcdef0123456789",
      `Basic ${daemon.token}`,
    ]) {
      const answer = await postJson(Number(port), "CreateSandbox", body, authorization);
      expect(answer.status, String(authorization)).toBe(401);
      expect(JSON.parse(answer.body)).toMatchObject({ code: "unauthenticated" });
    }
    // The typed client and native gRPC (h2c) without the token.
    const anonymous = createSandboxClient({ baseUrl: daemon.address });
    expect((await codeOf(anonymous.listSandboxes({}))).code).toBe(Code.Unauthenticated);
    const grpc = createClient(SandboxService, createGrpcTransport({ baseUrl: daemon.address }));
    expect((await codeOf(grpc.listSandboxes({}))).code).toBe(Code.Unauthenticated);
    await expectNothingDone(daemon, project);
    expect(daemon.stderr()).toContain(
      "refused POST /claude_sandbox.v1.SandboxService/CreateSandbox: wrong token",
    );

    // Whoever holds the token acts as the daemon's own user (root here): even the test user, in root's 0700 dir.
    const results = await callAs(
      asUser,
      daemon.address,
      [
        {
          rpc: "createSandbox",
          request: { name: "token-holder", backend: Backend.BUBBLEWRAP, projectDir: project },
        },
      ],
      daemon.token,
    );
    expect(results).toMatchObject([{ ok: { sandbox: expect.objectContaining({ projectDir: project }) } }]);
  });
});

describe.skipIf(missing)("an unprivileged manager", () => {
  it("lets the members of its group create only where they could write themselves", async () => {
    const base = await dir("user-manager", 0o755, user);
    const home = join(base, "home");
    const own = { uid: user.uid, gid: user.gid };
    const asDaemonUser = (args: string[]) =>
      promisify(execFile)("setpriv", [
        `--reuid=${user.uid}`,
        `--regid=${user.gid}`,
        "--init-groups",
        "--",
        ...args,
      ]);
    await asDaemonUser(["mkdir", "-m", "700", home, join(base, "private")]);
    await asDaemonUser(["mkdir", "-m", "770", join(base, "shared")]);
    await asDaemonUser(["mkdir", "-p", join(home, ".config/tools")]);
    const daemon = await start({
      stateDir: join(base, "state"),
      cwd: base,
      env: { MANAGER_LISTEN: `unix:${join(base, "api.sock")}`, HOME: home },
      runAs: own,
    });
    const member: Identity = { uid: NOBODY, gid: NOBODY, groups: [user.gid] };
    const create = (projectDir: string) => [
      { rpc: "createSandbox", request: { name: "m", backend: Backend.BUBBLEWRAP, projectDir } },
    ];
    const [privateDir] = await callAs(member, daemon.address, create(join(base, "private")));
    expect(errorOf(privateDir)).toMatchObject({
      code: "PermissionDenied",
      message: expect.stringContaining("could not write it"),
    });
    const [ownDot] = await callAs(asUser, daemon.address, create(join(home, ".config/tools")));
    expect(errorOf(ownDot)).toMatchObject({
      code: "InvalidArgument",
      message: expect.stringContaining("a dot directory of the home"),
    });
    const [shared] = await callAs(member, daemon.address, create(join(base, "shared")));
    expect(shared).toMatchObject({
      ok: { sandbox: expect.objectContaining({ status: SandboxStatus.RUNNING }) },
    });
    expect((await daemon.client.listSandboxes({})).sandboxes).toHaveLength(1);
  });
});

function postJson(
  port: number,
  rpc: string,
  body: unknown,
  authorization: string | undefined,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (authorization !== undefined) headers.authorization = authorization;
    const req = request(
      { host: "127.0.0.1", port, method: "POST", path: `/claude_sandbox.v1.SandboxService/${rpc}`, headers },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          text += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}
