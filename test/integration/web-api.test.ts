// The documented REST API over real HTTP, through a loopback port tunnelled to the manager's Unix socket (what
// `ssh -L` gives a laptop), against the real daemon with real Xvfb and tmux and the fixture launcher. The seed's
// curl commands are run as its README writes them, with the real curl; everything else with node:http, so each
// header and byte sent is the test's own.
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { Backend } from "../../client/index.js";
import { REPO_ROOT } from "../helpers/build.js";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import {
  SEED_CLAUDE_METRICS_FIELDS,
  SEED_SANDBOX_FIELDS,
  SEED_SYSTEM_METRICS_FIELDS,
} from "../helpers/seed-shapes.js";
import { type Daemon, FIXTURE_BIN, sessionExists, typeIntoPane } from "../helpers/start-daemon.js";
import { openUnixTunnel, type UnixTunnel } from "../helpers/unix-tunnel.js";
import { pidAlive, waitUntil } from "../helpers/wait.js";

const fx = useDaemonFixture();
const run = promisify(execFile);

// A launcher that starts more children on request, so what a sandbox uses changes when the test says so.
const CHILDREN_BIN = join(REPO_ROOT, "test/fixtures/bin-children");
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  /** The body parsed as JSON, when it is JSON. */
  json: unknown;
}

interface Manager {
  daemon: Daemon;
  tunnel: UnixTunnel;
  http(
    method: string,
    path: string,
    options?: { headers?: Record<string, string>; body?: string | Buffer },
  ): Promise<Answer>;
  /** Runs the real curl (no shell) and returns what it printed. */
  curl(...args: string[]): Promise<string>;
  create(body: Record<string, unknown>): Promise<SandboxJson>;
}

type SandboxJson = Record<string, unknown> & { id: string; status: string; tmux_session: string };

async function startManager(env: Record<string, string> = {}): Promise<Manager> {
  const daemon = await fx.start({ env: { MANAGER_DISPLAY_BASE: "7400", ...env } });
  const tunnel = await openUnixTunnel(daemon.socketPath ?? "");
  fx.cleanupLater(() => tunnel.close());
  const http: Manager["http"] = (method, path, options = {}) =>
    new Promise((resolve, reject) => {
      const req = httpRequest(
        { host: "127.0.0.1", port: tunnel.port, method, path, headers: framed(options) },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("error", reject);
          res.on("end", () => {
            const body = Buffer.concat(chunks);
            const text = body.toString("utf8");
            let json: unknown;
            if (String(res.headers["content-type"]).startsWith("application/json")) json = JSON.parse(text);
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text, json });
          });
        },
      );
      req.on("error", reject);
      req.end(options.body);
    });
  const manager: Manager = {
    daemon,
    tunnel,
    http,
    curl: async (...args) => (await run("curl", args, { maxBuffer: 64 * 1024 * 1024 })).stdout,
    async create(body) {
      const answer = await http("POST", "/api/sandboxes", {
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      expect(answer.status, answer.text).toBe(201);
      return answer.json as SandboxJson;
    },
  };
  return manager;
}

/**
 * The headers with the body's length when it has one and no other framing: node:http sends a GET's or a DELETE's
 * body unframed otherwise, and the server would read it as the next request.
 */
function framed(options: {
  headers?: Record<string, string>;
  body?: string | Buffer;
}): Record<string, string> {
  const headers = { ...options.headers };
  const named = (name: string) => Object.keys(headers).some((key) => key.toLowerCase() === name);
  if (options.body !== undefined && !named("content-length") && !named("transfer-encoding")) {
    headers["content-length"] = String(Buffer.byteLength(options.body));
  }
  return headers;
}

const seedBody = (overrides: Record<string, unknown> = {}) => ({
  name: "test",
  backend: "bubblewrap",
  project_dir: fx.projectDir,
  network: true,
  ...overrides,
});

/** What a refused request must leave as it was: the list (ids and statuses) and the log files. */
async function snapshot(m: Manager) {
  const list = (await m.http("GET", "/api/sandboxes")).json as SandboxJson[];
  const logs = await readdir(join(m.daemon.stateDir, "logs")).catch(() => []);
  return { sandboxes: list.map((s) => [s.id, s.status]), logs: logs.sort() };
}

describe("the REST API", () => {
  it("runs the seed's documented curl commands as written", async () => {
    const m = await startManager();
    const base = `localhost:${m.tunnel.port}`;
    expect(await m.curl(`${base}/api/sandboxes`)).toBe("[]");

    const created = JSON.parse(
      await m.curl(
        "-X",
        "POST",
        `${base}/api/sandboxes`,
        "-H",
        "Content-Type: application/json",
        "-d",
        JSON.stringify({ name: "test", backend: "bubblewrap", project_dir: fx.projectDir, network: true }),
      ),
    ) as SandboxJson;
    expect(created).toMatchObject({
      name: "test",
      backend: "bubblewrap",
      project_dir: fx.projectDir,
      status: "running",
      qemu_qmp_socket: null,
      network: true,
      tmux_session: `sandbox-${created.id.slice(0, 8)}`,
    });
    expect(created.display_num).toBeGreaterThanOrEqual(7400);
    expect(pidAlive(created.pid_xvfb as number)).toBe(true);
    const { id } = created;

    expect(JSON.parse(await m.curl(`${base}/api/sandboxes/${id}`))).toMatchObject({ id, status: "running" });
    const listed = JSON.parse(await m.curl(`${base}/api/sandboxes`)) as SandboxJson[];
    expect(listed.map((s) => s.id)).toEqual([id]);

    await waitUntil("the launcher's first lines in the log", async () =>
      (await m.curl(`${base}/api/sandboxes/${id}/logs`)).includes("fixture-launcher DISPLAY="),
    );
    const logs = await m.curl(`${base}/api/sandboxes/${id}/logs`);
    expect(logs).toContain(`fixture-launcher DISPLAY=:${created.display_num}`);
    expect(logs).toContain(`fixture-launcher project: ${fx.projectDir}`);

    const dir = await mkdtemp(join(tmpdir(), "csm-curl-"));
    fx.cleanupLater(() => rm(dir, { recursive: true, force: true }));
    await run("curl", [`${base}/api/sandboxes/${id}/screenshot`, "-o", "screenshot.png"], { cwd: dir });
    const saved = await readFile(join(dir, "screenshot.png"));
    // What the user finds in the file: the image, or while screenshots are not implemented, the reason.
    if (saved.subarray(0, 8).equals(PNG_SIGNATURE)) expect(saved.length).toBeGreaterThan(8);
    else expect(JSON.parse(saved.toString())).toEqual({ error: expect.stringMatching(/not implemented/) });

    for (const [path, fields] of [
      [`/api/sandboxes/${id}/metrics`, SEED_CLAUDE_METRICS_FIELDS],
      ["/api/metrics/system", SEED_SYSTEM_METRICS_FIELDS],
    ] as const) {
      const shown = JSON.parse(await m.curl(`${base}${path}`)) as Record<string, unknown>;
      // The seed's fields, each still there; more may follow them.
      if ("error" in shown) expect(shown).toEqual({ error: expect.stringMatching(/not implemented/) });
      else expect(Object.keys(shown).slice(0, fields.length)).toEqual(fields);
    }

    expect(await m.curl("-X", "POST", `${base}/api/sandboxes/${id}/stop`)).toBe("");
    expect(JSON.parse(await m.curl(`${base}/api/sandboxes/${id}`))).toMatchObject({ status: "stopped" });
    expect(await sessionExists(m.daemon.stateDir, created.tmux_session)).toBe(false);
    expect(await m.curl("-X", "DELETE", `${base}/api/sandboxes/${id}`)).toBe("");
    expect(await m.curl(`${base}/api/sandboxes`)).toBe("[]");
    expect(JSON.parse(await m.curl(`${base}/api/sandboxes/${id}`))).toEqual({
      error: `sandbox "${id}" not found`,
    });
  });

  it("lists newest first, creates with 201 and Location, gets, stops and deletes with 204", async () => {
    const m = await startManager();
    const first = await m.create(seedBody({ name: "first" }));
    const { network: _, ...withoutNetwork } = seedBody({ name: "second" });
    const second = await m.create(withoutNetwork);
    expect(second.network).toBe(true);
    const third = await m.create(seedBody({ name: "third", network: false, shell: true }));
    expect(third).toMatchObject({ network: false, shell: true });

    const list = await m.http("GET", "/api/sandboxes");
    expect(list.status).toBe(200);
    expect(list.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(list.headers["cache-control"]).toBe("no-store");
    const sandboxes = list.json as SandboxJson[];
    expect(sandboxes.map((s) => s.name)).toEqual(["third", "second", "first"]);
    for (const s of sandboxes)
      expect(Object.keys(s).slice(0, SEED_SANDBOX_FIELDS.length)).toEqual(SEED_SANDBOX_FIELDS);

    const posted = await m.http("POST", "/api/sandboxes", {
      headers: { "content-type": "application/json; charset=utf-8" },
      body: JSON.stringify(seedBody({ name: "located", agent_args: ["--model", "two words"] })),
    });
    expect(posted.status).toBe(201);
    const located = posted.json as SandboxJson;
    expect(posted.headers.location).toBe(`/api/sandboxes/${located.id}`);
    const fetched = await m.http("GET", posted.headers.location ?? "");
    expect(fetched.status).toBe(200);
    expect(fetched.json).toMatchObject({
      id: located.id,
      name: "located",
      agent_args: ["--model", "two words"],
    });

    const stop = await m.http("POST", `/api/sandboxes/${first.id}/stop`);
    expect([stop.status, stop.text]).toEqual([204, ""]);
    const stopped = (await m.http("GET", `/api/sandboxes/${first.id}`)).json as SandboxJson;
    expect(stopped).toMatchObject({ status: "stopped", status_reason: "stopped on request" });
    expect(typeof stopped.stopped_at).toBe("string");
    expect(pidAlive(first.pid_xvfb as number)).toBe(false);
    // Stopping what is not running is no error, and changes nothing.
    expect((await m.http("POST", `/api/sandboxes/${first.id}/stop`)).status).toBe(204);
    expect((await m.http("GET", `/api/sandboxes/${first.id}`)).json).toEqual(stopped);

    // Delete stops a running sandbox first.
    const del = await m.http("DELETE", `/api/sandboxes/${second.id}`);
    expect([del.status, del.text]).toEqual([204, ""]);
    expect(await sessionExists(m.daemon.stateDir, second.tmux_session)).toBe(false);
    expect((await m.http("GET", `/api/sandboxes/${second.id}`)).status).toBe(404);
    const after = (await m.http("GET", "/api/sandboxes")).json as SandboxJson[];
    expect(after.map((s) => s.name)).toEqual(["located", "third", "first"]);
    expect(after.find((s) => s.id === first.id)?.status).toBe("stopped");
  });

  it("lists what other clients change (the CLI over Connect) as soon as their call returns", async () => {
    const m = await startManager();
    const names = async () =>
      ((await m.http("GET", "/api/sandboxes")).json as SandboxJson[]).map((s) => s.name);
    const mine = await m.create(seedBody({ name: "over REST" }));
    expect(await names()).toEqual(["over REST"]);
    const { client } = m.daemon;
    const { sandbox } = await client.createSandbox({
      name: "over Connect",
      backend: Backend.BUBBLEWRAP,
      projectDir: fx.projectDir,
    });
    const id = sandbox?.id ?? "";
    expect(await names()).toEqual(["over Connect", "over REST"]);
    await client.stopSandbox({ id });
    const listed = (await m.http("GET", "/api/sandboxes")).json as SandboxJson[];
    expect(listed.map((s) => [s.name, s.status])).toEqual([
      ["over Connect", "stopped"],
      ["over REST", "running"],
    ]);
    await client.deleteSandbox({ id: mine.id });
    expect(await names()).toEqual(["over Connect"]);
  });

  it("lists a sandbox's end as it happens, and its usage at most a few seconds old", async (ctx) => {
    const m = await startManager({
      PATH: `${CHILDREN_BIN}:${FIXTURE_BIN}:${process.env.PATH ?? "/usr/bin:/bin"}`,
    });
    const sandbox = await m.create(seedBody({ name: "children" }));
    const listed = async () =>
      ((await m.http("GET", "/api/sandboxes")).json as SandboxJson[]).find((s) => s.id === sandbox.id);
    const pids = async () =>
      ((await listed())?.usage as { pids_current: number | null } | null)?.pids_current;
    await waitUntil("the launcher to start", async () =>
      (await m.http("GET", `/api/sandboxes/${sandbox.id}/logs`)).text.includes("fixture-children ready"),
    );
    const before = await pids();
    if (before === undefined || before === null) {
      ctx.skip(`no process accounting for sandboxes here (${sandbox.limits_note as string})`);
      return;
    }
    await typeIntoPane(m.daemon.stateDir, sandbox.tmux_session, "spawn 5");
    // Nothing tells the list of a new process but reading it again, which it does once its reading is 2 s old.
    await waitUntil(
      "the list to count the 5 new processes",
      async () => ((await pids()) ?? 0) >= before + 5,
      6000,
      100,
    );

    await typeIntoPane(m.daemon.stateDir, sandbox.tmux_session, "exit 3");
    const ended = await waitUntil("the list to show the launcher's exit", async () => {
      const s = await listed();
      return s?.status === "dead" ? s : undefined;
    });
    expect(ended).toMatchObject({ status: "dead", exit_code: 3, usage: null });
  });

  it("answers 404 naming the id for an unknown sandbox on every route, and changes nothing", async () => {
    const m = await startManager();
    const kept = await m.create(seedBody());
    const before = await snapshot(m);
    const unknown = "00000000-0000-4000-8000-000000000000";
    for (const [method, path] of [
      ["GET", `/api/sandboxes/${unknown}`],
      ["DELETE", `/api/sandboxes/${unknown}`],
      ["POST", `/api/sandboxes/${unknown}/stop`],
      ["GET", `/api/sandboxes/${unknown}/screenshot`],
      ["GET", `/api/sandboxes/${unknown}/metrics`],
      ["GET", `/api/sandboxes/${unknown}/logs`],
      // A prefix of a real id is not that sandbox.
      ["DELETE", `/api/sandboxes/${kept.id.slice(0, 8)}`],
    ] as const) {
      const answer = await m.http(method, path);
      expect([method, path, answer.status, answer.headers["content-type"]]).toEqual([
        method,
        path,
        404,
        "application/json; charset=utf-8",
      ]);
      expect(answer.json).toEqual({ error: expect.stringMatching(/^sandbox ".+" not found$/) });
    }
    const other = await m.http("GET", "/api/sandboxes/x/unknown-thing");
    expect([other.status, other.json]).toEqual([
      404,
      { error: expect.stringContaining("/api/sandboxes/x/unknown-thing") },
    ]);
    expect(await snapshot(m)).toEqual(before);
  });

  it("refuses bad create requests with 400, 413 or 415 naming what is wrong, and starts nothing", async () => {
    const m = await startManager();
    await m.create(seedBody({ name: "existing" }));
    const before = await snapshot(m);
    const file = join(fx.projectDir, "a-file");
    await writeFile(file, "not a directory");
    fx.cleanupLater(() => rm(file, { force: true }));
    const json = { "content-type": "application/json" };

    const cases: [string, Record<string, string>, string | Buffer, number, string | undefined, RegExp][] = [
      ["malformed JSON", json, '{"name": "test",', 400, undefined, /^the request body is not valid JSON$/],
      ["a JSON string", json, '"test"', 400, undefined, /not valid JSON/],
      ["a JSON array", json, JSON.stringify([seedBody()]), 400, "body", /^body: must be a JSON object$/],
      ["no body", {}, "", 400, "body", /needs a JSON body/],
      [
        "missing name",
        json,
        JSON.stringify(seedBody({ name: undefined })),
        400,
        "name",
        /^name: is required$/,
      ],
      [
        "missing project_dir",
        json,
        JSON.stringify(seedBody({ project_dir: undefined })),
        400,
        "project_dir",
        /^project_dir: is required$/,
      ],
      [
        "a number for a name",
        json,
        JSON.stringify(seedBody({ name: 42 })),
        400,
        "name",
        /^name: must be a string/,
      ],
      [
        "a string for network",
        json,
        JSON.stringify(seedBody({ network: "false" })),
        400,
        "network",
        /^network: must be true or false/,
      ],
      [
        "an unknown backend",
        json,
        JSON.stringify(seedBody({ backend: "docker" })),
        400,
        "backend",
        /^backend: "docker" is not one of bubblewrap, container, vm$/,
      ],
      [
        "no backend",
        json,
        JSON.stringify(seedBody({ backend: undefined })),
        400,
        "backend",
        /^backend: is required/,
      ],
      [
        "a misspelt field",
        json,
        JSON.stringify(seedBody({ netwrok: false })),
        400,
        "netwrok",
        /^netwrok: is not a field/,
      ],
      [
        "a relative project_dir",
        json,
        JSON.stringify(seedBody({ project_dir: "project" })),
        400,
        "project_dir",
        /^project_dir: "project" is not an absolute path$/,
      ],
      [
        "a missing project_dir",
        json,
        JSON.stringify(seedBody({ project_dir: "/nonexistent/project" })),
        400,
        "project_dir",
        /^project_dir: "\/nonexistent\/project" does not exist$/,
      ],
      [
        "a file as project_dir",
        json,
        JSON.stringify(seedBody({ project_dir: file })),
        400,
        "project_dir",
        /is not a directory$/,
      ],
      [
        "a name too long",
        json,
        JSON.stringify(seedBody({ name: "n".repeat(129) })),
        400,
        "name",
        /^name: is 129 characters long; the limit is 128$/,
      ],
      [
        "a control character in the name",
        json,
        JSON.stringify(seedBody({ name: "a\u001bb" })),
        400,
        "name",
        /^name: must not contain control characters$/,
      ],
      [
        "a memory limit below the floor",
        json,
        JSON.stringify(seedBody({ limits: { memory_bytes: 1000 } })),
        400,
        "limits.memory_bytes",
        /^limits\.memory_bytes: is 1000; it must be from/,
      ],
      [
        "a body past the limit",
        json,
        JSON.stringify(seedBody({ name: "x".repeat(200 * 1024) })),
        413,
        undefined,
        /larger than the limit of 131072 bytes/,
      ],
      [
        "a form body",
        { "content-type": "application/x-www-form-urlencoded" },
        `name=test&backend=bubblewrap&project_dir=${encodeURIComponent(fx.projectDir)}`,
        415,
        undefined,
        /must be JSON/,
      ],
      [
        "text/plain JSON",
        { "content-type": "text/plain" },
        JSON.stringify(seedBody()),
        415,
        undefined,
        /must be JSON \(Content-Type: application\/json\), not text\/plain$/,
      ],
      [
        "untyped JSON",
        { "content-length": String(Buffer.byteLength(JSON.stringify(seedBody()))) },
        JSON.stringify(seedBody()),
        415,
        undefined,
        /not untyped$/,
      ],
      [
        "a gzipped body",
        { ...json, "content-encoding": "gzip" },
        Buffer.from([0x1f, 0x8b, 0x08, 0]),
        415,
        undefined,
        /encoding is not supported/,
      ],
    ];
    for (const [what, headers, body, status, field, error] of cases) {
      const answer = await m.http("POST", "/api/sandboxes", { headers, body });
      expect([what, answer.status, answer.headers["content-type"]], answer.text).toEqual([
        what,
        status,
        "application/json; charset=utf-8",
      ]);
      const shown = answer.json as { error: string; field?: string };
      expect(shown.error, what).toMatch(error);
      expect(shown.field, what).toBe(field);
    }
    // Sent in chunks with no length announced, the oversized body is cut off at the limit all the same.
    const chunked = await m.http("POST", "/api/sandboxes", {
      headers: { ...json, "transfer-encoding": "chunked" },
      body: JSON.stringify(seedBody({ name: "y".repeat(1024 * 1024) })),
    });
    expect(chunked.status).toBe(413);
    expect(await snapshot(m)).toEqual(before);
  });

  it("answers a method a path does not take with 405 and Allow, and OPTIONS with what it takes", async () => {
    const m = await startManager();
    const { id } = await m.create(seedBody());
    const before = await snapshot(m);
    for (const [method, path, allow] of [
      ["PUT", "/api/sandboxes", "GET, HEAD, POST"],
      ["DELETE", "/api/sandboxes", "GET, HEAD, POST"],
      ["POST", `/api/sandboxes/${id}`, "GET, HEAD, DELETE"],
      ["PATCH", `/api/sandboxes/${id}`, "GET, HEAD, DELETE"],
      ["GET", `/api/sandboxes/${id}/stop`, "POST"],
      ["DELETE", `/api/sandboxes/${id}/stop`, "POST"],
      ["POST", `/api/sandboxes/${id}/logs`, "GET, HEAD"],
      ["DELETE", `/api/sandboxes/${id}/screenshot`, "GET, HEAD"],
      ["PUT", `/api/sandboxes/${id}/metrics`, "GET, HEAD"],
      ["POST", "/api/metrics/system", "GET, HEAD"],
    ] as const) {
      const answer = await m.http(method, path, {
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      expect([method, path, answer.status, answer.headers.allow]).toEqual([method, path, 405, allow]);
      expect(answer.json).toEqual({ error: `${method} is not allowed on ${path}; it takes ${allow}` });
      const options = await m.http("OPTIONS", path);
      expect([path, options.status, options.headers.allow]).toEqual([path, 204, allow]);
    }
    expect(await snapshot(m)).toEqual(before);
  });

  it("streams a log larger than any one GetLogs answer, byte for byte, as text/plain", async () => {
    const m = await startManager();
    const sandbox = await m.create(seedBody({ name: "flood" }));
    // Past GetLogs's 4 MiB ceiling, so only paging can return it whole.
    await typeIntoPane(m.daemon.stateDir, sandbox.tmux_session, "flood 6000000");
    const logFile = join(m.daemon.stateDir, "logs", `${sandbox.id}.log`);
    await waitUntil(
      "the end of the flood in the log",
      async () => (await readFile(logFile, "utf8").catch(() => "")).endsWith("fixture-flood-done\r\n"),
      30_000,
      100,
    );
    const answer = await m.http("GET", `/api/sandboxes/${sandbox.id}/logs`);
    expect(answer.status).toBe(200);
    expect(answer.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(answer.headers["cache-control"]).toBe("no-store");
    // Sent as it is read, page by page, so its length is not known up front.
    expect(answer.headers["transfer-encoding"]).toBe("chunked");
    expect(answer.body.length).toBeGreaterThan(6_000_000);
    expect(answer.body.equals(await readFile(logFile))).toBe(true);

    const head = await m.http("HEAD", `/api/sandboxes/${sandbox.id}/logs`);
    expect([head.status, head.headers["content-type"], head.body.length]).toEqual([
      200,
      "text/plain; charset=utf-8",
      0,
    ]);
  });

  it("serves the screenshot and the metrics as the service gives them, or says they are not implemented yet", async () => {
    const m = await startManager();
    const { id } = await m.create(seedBody());
    const shot = await m.http("GET", `/api/sandboxes/${id}/screenshot`);
    expect(shot.headers["cache-control"]).toBe("no-store");
    if (shot.status === 200) {
      expect(shot.headers["content-type"]).toBe("image/png");
      expect(shot.body.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    } else {
      expect([shot.status, shot.json]).toEqual([
        501,
        { error: expect.stringMatching(/^GetScreenshot is not implemented/) },
      ]);
    }
    for (const [path, fields, rpc] of [
      [`/api/sandboxes/${id}/metrics`, SEED_CLAUDE_METRICS_FIELDS, "GetSandboxMetrics"],
      ["/api/metrics/system", SEED_SYSTEM_METRICS_FIELDS, "GetSystemMetrics"],
    ] as const) {
      const answer = await m.http("GET", path);
      expect(answer.headers["content-type"]).toBe("application/json; charset=utf-8");
      if (answer.status === 200) {
        // The seed's fields first, in its order; new ones may follow.
        expect(Object.keys(answer.json as object).slice(0, fields.length)).toEqual(fields);
      } else {
        expect([answer.status, answer.json]).toEqual([
          501,
          { error: expect.stringMatching(new RegExp(`^${rpc} is not implemented`)) },
        ]);
      }
    }
  });
});
