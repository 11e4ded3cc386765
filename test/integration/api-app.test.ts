// The daemon's listener with an in-memory manager: protocols on one port, the Unix socket's rules, the
// fallback hook and shutdown of open streams. The real manager is covered by daemon-*.test.ts.
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { connect as connectHttp2 } from "node:http2";
import { connect as connectTcp } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { createSandboxClient } from "../../client/index.js";
import { Backend, LogEndReason, SandboxService } from "../../gen/claude_sandbox/v1/sandbox_service_pb.js";
import { createApp } from "../../server/app.js";
import type { ListenAddress } from "../../server/config.js";
import { createFakeLogHub, createFakeManager } from "../helpers/fake-manager.js";
import { freePort } from "../helpers/free-port.js";
import { makeStaleSocket } from "../helpers/stale-socket.js";
import { holdsWithin } from "../helpers/wait.js";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "api-app-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

// Every TCP listener needs one; the helpers below send it unless a test says otherwise.
const TOKEN = "test-token-0123456789abcdef0123456789abcdef";
const AUTH = { authorization: `Bearer ${TOKEN}` };
const withToken: Interceptor = (next) => (req) => {
  req.header.set("authorization", `Bearer ${TOKEN}`);
  return next(req);
};

async function start(listen: ListenAddress, extra: Partial<Parameters<typeof createApp>[0]> = {}) {
  const manager = createFakeManager();
  const logHub = createFakeLogHub();
  const lines: string[] = [];
  const token = listen.kind === "tcp" ? TOKEN : undefined;
  const app = createApp({ listen, token, manager, logHub, log: (l) => lines.push(l), ...extra });
  cleanups.push(() => app.close());
  const where = await app.listen();
  return { app, manager, logHub, lines, where };
}

async function tcp(extra: Partial<Parameters<typeof createApp>[0]> = {}) {
  const port = await freePort();
  return { port, ...(await start({ kind: "tcp", host: "127.0.0.1", port }, extra)) };
}

function abortLater(): AbortSignal {
  const ac = new AbortController();
  cleanups.push(() => ac.abort());
  return ac.signal;
}

/** Sends an HTTP/1.1 upgrade request and resolves with the raw response head. */
function upgrade(port: number, path: string, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp({ host: "127.0.0.1", port }, () => {
      const lines = [
        `GET ${path} HTTP/1.1`,
        `Host: ${headers.host ?? `127.0.0.1:${port}`}`,
        "Connection: Upgrade",
        "Upgrade: websocket",
        ...(headers.origin === undefined ? [] : [`Origin: ${headers.origin}`]),
        ...(headers.authorization === ""
          ? []
          : [`Authorization: ${headers.authorization ?? AUTH.authorization}`]),
      ];
      socket.write(`${lines.join("\r\n")}\r\n\r\n`);
    });
    let text = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      text += chunk;
      if (text.includes("\r\n\r\n")) {
        socket.destroy();
        resolve(text);
      }
    });
    socket.on("error", reject);
    socket.on("close", () => resolve(text));
  });
}

function postJson(
  port: number,
  rpc: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path: `/claude_sandbox.v1.SandboxService/${rpc}`,
        headers: { "content-type": "application/json", ...AUTH, ...headers },
      },
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

function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, headers: { ...AUTH, ...headers } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("the daemon's listener", () => {
  it("serves Connect, gRPC-Web (HTTP/1.1) and gRPC and Connect over h2c on one TCP port", async () => {
    const { port, where } = await tcp();
    expect(where).toBe(`http://127.0.0.1:${port}`);
    const baseUrl = `http://127.0.0.1:${port}`;
    const interceptors = [withToken];
    const connect = createClient(
      SandboxService,
      createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors }),
    );
    await connect.createSandbox({ name: "one", backend: Backend.BUBBLEWRAP, projectDir: "/p" });
    const grpcWeb = createClient(
      SandboxService,
      createGrpcWebTransport({ baseUrl, httpVersion: "1.1", interceptors }),
    );
    expect((await grpcWeb.listSandboxes({})).sandboxes.map((s) => s.name)).toEqual(["one"]);
    const grpc = createGrpcTransport({ baseUrl, interceptors });
    const h2 = createClient(SandboxService, grpc);
    expect((await h2.listSandboxes({})).sandboxes.map((s) => s.name)).toEqual(["one"]);
    const connectH2 = createClient(
      SandboxService,
      createConnectTransport({ baseUrl, httpVersion: "2", interceptors }),
    );
    const err = await connectH2.getSandbox({ id: "nope" }).catch((e: unknown) => ConnectError.from(e));
    expect(err).toMatchObject({ code: Code.NotFound });
  });

  it("listens on IPv6 loopback, and the Host guard accepts [::1]", async () => {
    const port = await freePort();
    const { where } = await start({ kind: "tcp", host: "::1", port });
    expect(where).toBe(`http://[::1]:${port}`);
    const client = createSandboxClient({ baseUrl: where, token: TOKEN });
    await client.createSandbox({ name: "v6", backend: Backend.VM, projectDir: "/p" });
    expect((await client.listSandboxes({})).sandboxes.map((s) => s.name)).toEqual(["v6"]);
  });

  it("hands plain HTTP requests to the gateway, and answers 404 without one", async () => {
    const withGateway = await tcp({
      gateway: () => ({
        handle: (req, res) => {
          res.writeHead(200, { "content-type": "text/plain" });
          res.end(`gateway saw ${req.url}`);
        },
      }),
    });
    expect(await get(withGateway.port, "/dashboard")).toEqual({
      status: 200,
      body: "gateway saw /dashboard",
    });
    const without = await tcp();
    expect((await get(without.port, "/dashboard")).status).toBe(404);
  });

  it("gives the gateway an in-process transport to the same service, acting as the caller of its request", async () => {
    let rpc: Transport | undefined;
    const { manager, port } = await tcp({
      gateway: (transport, rpcAs) => {
        rpc = transport;
        return {
          handle: (req, res) => {
            const client = createClient(SandboxService, rpcAs(req));
            void client
              .createSandbox({ name: "from-the-gateway", backend: Backend.VM, projectDir: "/p" })
              .then(
                () => res.end("created"),
                (err: unknown) => res.end(String(err)),
              );
          },
        };
      },
    });
    if (rpc === undefined) throw new Error("the gateway factory was not called");
    expect(await get(port, "/create")).toEqual({ status: 200, body: "created" });
    expect(manager.list().map((r) => r.name)).toEqual(["from-the-gateway"]);
    // A token holder acts as the daemon's own user.
    expect(manager.requesters).toEqual([
      expect.objectContaining({ uid: process.getuid?.(), via: "tcp-token" }),
    ]);
    // The anonymous transport reads, but never creates: nobody vouches for its caller.
    const anonymous = createClient(SandboxService, rpc);
    expect((await anonymous.listSandboxes({})).sandboxes).toHaveLength(1);
    const refused = await anonymous
      .createSandbox({ name: "anonymous", backend: Backend.VM, projectDir: "/p" })
      .catch((e: unknown) => ConnectError.from(e));
    expect(refused).toMatchObject({ code: Code.PermissionDenied });
    expect(manager.creates).toHaveLength(1);
  });

  it("hands upgrade requests (WebSocket) to the gateway after the Host/Origin checks, 404 without a handler", async () => {
    const upgrades: string[] = [];
    const { port } = await tcp({
      gateway: () => ({
        handle: (_req, res) => res.end(),
        upgrade: (req, socket) => {
          upgrades.push(req.url ?? "");
          socket.end("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
        },
      }),
    });
    expect(await upgrade(port, "/ws/logs", {})).toMatch(/^HTTP\/1\.1 101 /);
    expect(await upgrade(port, "/ws/logs", { origin: "https://evil.example" })).toMatch(/^HTTP\/1\.1 403 /);
    expect(await upgrade(port, "/ws/logs", { host: "evil.example" })).toMatch(/^HTTP\/1\.1 403 /);
    expect(upgrades).toEqual(["/ws/logs"]);
    const plain = await tcp({ gateway: () => ({ handle: (_req, res) => res.end() }) });
    expect(await upgrade(plain.port, "/ws/logs", {})).toMatch(/^HTTP\/1\.1 404 /);
  });

  it("closes the gateway at shutdown after RPC streams ended", async () => {
    const order: string[] = [];
    const { app, logHub } = await tcp({
      gateway: () => ({
        handle: (_req, res) => res.end(),
        close: () => {
          order.push(logHub.closed ? "gateway closed after the log hub" : "gateway closed first");
        },
      }),
    });
    await app.close();
    expect(order).toEqual(["gateway closed after the log hub"]);
  });

  it("never hands an HTTP/2 request to the gateway (Express cannot take them); it gets a 404", async () => {
    let fallbackCalls = 0;
    const { port } = await tcp({
      gateway: () => ({
        handle: (_req, res) => {
          fallbackCalls++;
          res.end("gateway");
        },
      }),
    });
    const session = connectHttp2(`http://127.0.0.1:${port}`);
    cleanups.push(() => session.close());
    const status = await new Promise<number>((resolve, reject) => {
      const req = session.request({ ":path": "/dashboard", ...AUTH });
      req.on("response", (headers) => resolve(Number(headers[":status"])));
      req.on("error", reject);
      req.end();
    });
    expect(status).toBe(404);
    expect(fallbackCalls).toBe(0);
  });

  it("takes plain JSON over HTTP/1.1: POST for any RPC, GET for the side-effect-free ones", async () => {
    const { port } = await tcp();
    const created = await postJson(port, "CreateSandbox", {
      name: "curl",
      backend: "BACKEND_VM",
      projectDir: "/p",
    });
    expect(created.status).toBe(200);
    expect(JSON.parse(created.body).sandbox).toMatchObject({ name: "curl", backend: "BACKEND_VM" });
    const listed = await get(
      port,
      "/claude_sandbox.v1.SandboxService/ListSandboxes?encoding=json&message=%7B%7D&connect=v1",
    );
    expect(listed.status).toBe(200);
    expect(JSON.parse(listed.body).sandboxes).toHaveLength(1);
    const missing = await postJson(port, "GetSandbox", { id: "nope" });
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toEqual({ code: "not_found", message: 'sandbox "nope" not found' });
  });

  it("refuses DNS-rebinding and cross-site browser requests with 403 before they reach an RPC or the gateway", async () => {
    let fallbackCalls = 0;
    const { port, manager, lines } = await tcp({
      gateway: () => ({
        handle: (_req, res) => {
          fallbackCalls++;
          res.end("gateway");
        },
      }),
    });
    const rebinding = await postJson(
      port,
      "CreateSandbox",
      { name: "x", backend: "BACKEND_VM", projectDir: "/p" },
      {
        host: `evil.example:${port}`,
      },
    );
    expect(rebinding.status).toBe(403);
    expect(JSON.parse(rebinding.body).code).toBe("permission_denied");
    const crossSite = await postJson(
      port,
      "CreateSandbox",
      { name: "x", backend: "BACKEND_VM", projectDir: "/p" },
      {
        origin: "https://evil.example",
      },
    );
    expect(crossSite.status).toBe(403);
    expect((await get(port, "/", { host: "evil.example" })).status).toBe(403);
    expect(fallbackCalls).toBe(0);
    expect(manager.creates).toEqual([]);
    expect(lines.filter((l) => l.startsWith("refused POST"))).toHaveLength(2);
    // The same page served from the manager itself may call it.
    const sameOrigin = await postJson(port, "ListSandboxes", {}, { origin: `http://127.0.0.1:${port}` });
    expect(sameOrigin.status).toBe(200);
  });

  it("refuses a request message over 1 MiB", async () => {
    const { port, manager } = await tcp();
    const huge = await postJson(port, "CreateSandbox", {
      name: "x",
      backend: "BACKEND_VM",
      projectDir: "/p",
      agentArgs: ["a".repeat(2 * 1024 * 1024)],
    });
    expect(huge.status).not.toBe(200);
    expect(JSON.parse(huge.body).code).toBe("resource_exhausted");
    expect(manager.creates).toEqual([]);
  });

  it("releases a tail on the server when its client aborts", async () => {
    const { port, logHub } = await tcp();
    const client = createSandboxClient({ baseUrl: `http://127.0.0.1:${port}`, token: TOKEN });
    const { sandbox } = await client.createSandbox({
      name: "x",
      backend: Backend.BUBBLEWRAP,
      projectDir: "/p",
    });
    const ac = new AbortController();
    const tail = client.tailLogs({ id: sandbox?.id ?? "" }, { signal: ac.signal })[Symbol.asyncIterator]();
    const pending = tail.next().catch(() => undefined);
    await holdsWithin(() => logHub.tails.length > 0, 5000, 5);
    const serverSignal = logHub.tails[0]?.options.signal;
    expect(serverSignal?.aborted).toBe(false);
    ac.abort();
    await pending;
    await holdsWithin(() => serverSignal?.aborted === true, 5000, 5);
    expect(serverSignal?.aborted).toBe(true);
  });

  it("creates the Unix socket mode 0660 and serves Connect and gRPC over it", async () => {
    const dir = await tempDir();
    const path = join(dir, "api.sock");
    const { where } = await start({ kind: "unix", path });
    expect(where).toBe(`unix:${path}`);
    expect((await stat(path)).mode & 0o777).toBe(0o660);
    const client = createSandboxClient({ socketPath: path });
    await client.createSandbox({ name: "u", backend: Backend.VM, projectDir: "/p" });
    expect((await client.listSandboxes({})).sandboxes).toHaveLength(1);
    // Native gRPC (h2c) on the same socket, as grpcurl or buf curl --unix-socket would use it.
    const grpc = createClient(
      SandboxService,
      createGrpcTransport({
        baseUrl: "http://localhost",
        nodeOptions: { createConnection: () => connectTcp({ path }) },
      }),
    );
    expect((await grpc.listSandboxes({})).sandboxes.map((s) => s.name)).toEqual(["u"]);
  });

  it("replaces a stale socket file, refuses a live one, refuses a non-socket, and removes its socket on close", async () => {
    const dir = await tempDir();
    const path = join(dir, "api.sock");
    await makeStaleSocket(path);

    const first = await start({ kind: "unix", path });
    expect(await createSandboxClient({ socketPath: path }).listSandboxes({})).toBeDefined();

    const second = createApp({
      listen: { kind: "unix", path },
      manager: createFakeManager(),
      logHub: createFakeLogHub(),
      log: () => {},
    });
    await expect(second.listen()).rejects.toThrow(/another process .* is listening there/);
    // The refused manager must not have taken the socket away from the running one.
    expect(await createSandboxClient({ socketPath: path }).listSandboxes({})).toBeDefined();

    await first.app.close();
    await expect(stat(path)).rejects.toMatchObject({ code: "ENOENT" });

    const file = join(dir, "not-a-socket");
    await writeFile(file, "keep me");
    const third = createApp({
      listen: { kind: "unix", path: file },
      manager: createFakeManager(),
      logHub: createFakeLogHub(),
      log: () => {},
    });
    await expect(third.listen()).rejects.toThrow(/exists and is not a socket/);
    expect((await stat(file)).isFile()).toBe(true);
  });

  it("explains a socket path whose directory does not exist", async () => {
    const dir = await tempDir();
    const path = join(dir, "missing", "api.sock");
    const app = createApp({
      listen: { kind: "unix", path },
      manager: createFakeManager(),
      logHub: createFakeLogHub(),
      log: () => {},
    });
    await expect(app.listen()).rejects.toThrow(
      `cannot listen on unix:${path}: ENOENT: the socket's directory does not exist; create it first`,
    );
  });

  it("reports a TCP port in use with the address", async () => {
    const first = await tcp();
    const second = createApp({
      listen: { kind: "tcp", host: "127.0.0.1", port: first.port },
      token: TOKEN,
      manager: createFakeManager(),
      logHub: createFakeLogHub(),
      log: () => {},
    });
    await expect(second.listen()).rejects.toThrow(
      `cannot listen on http://127.0.0.1:${first.port}: EADDRINUSE`,
    );
  });

  it("on close ends TailLogs with LogEnd SHUTDOWN and WatchSandboxes with Unavailable, promptly", async () => {
    const { app, port, logHub } = await tcp();
    const client = createSandboxClient({ baseUrl: `http://127.0.0.1:${port}`, token: TOKEN });
    const { sandbox } = await client.createSandbox({
      name: "x",
      backend: Backend.BUBBLEWRAP,
      projectDir: "/p",
    });
    const id = sandbox?.id ?? "";
    const tail = client.tailLogs({ id }, { signal: abortLater() })[Symbol.asyncIterator]();
    const firstTail = tail.next();
    const watch = client.watchSandboxes({}, { signal: abortLater() })[Symbol.asyncIterator]();
    expect((await watch.next()).value?.event.case).toBe("snapshot");
    await holdsWithin(() => logHub.tails.length > 0, 5000, 5);
    const started = Date.now();
    await app.close();
    expect(Date.now() - started).toBeLessThan(2000);
    const end = (await firstTail).value?.event;
    expect(end?.case === "end" && end.value.reason).toBe(LogEndReason.SHUTDOWN);
    expect((await tail.next()).done).toBe(true);
    const watchEnd = await watch.next().catch((e: unknown) => ConnectError.from(e));
    expect(watchEnd).toBeInstanceOf(ConnectError);
    expect(watchEnd).toMatchObject({ code: Code.Unavailable, rawMessage: "manager shutting down" });
    expect(logHub.closed).toBe(true);
  });

  it("ends the log tails of a sandbox deleted through the manager", async () => {
    const { port, logHub } = await tcp();
    const client = createSandboxClient({ baseUrl: `http://127.0.0.1:${port}`, token: TOKEN });
    const { sandbox } = await client.createSandbox({
      name: "x",
      backend: Backend.BUBBLEWRAP,
      projectDir: "/p",
    });
    const id = sandbox?.id ?? "";
    const tail = client.tailLogs({ id }, { signal: abortLater() })[Symbol.asyncIterator]();
    const first = tail.next();
    await holdsWithin(() => logHub.tails.length > 0, 5000, 5);
    await client.deleteSandbox({ id });
    const end = (await first).value?.event;
    expect(end?.case === "end" && end.value.reason).toBe(LogEndReason.DELETED);
  });
});
