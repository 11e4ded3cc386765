import { create } from "@bufbuild/protobuf";
import { TimestampSchema, timestampDate } from "@bufbuild/protobuf/wkt";
import {
  Code,
  ConnectError,
  createClient,
  createHandlerContext,
  createRouterTransport,
} from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import {
  Backend,
  LogEndReason,
  SandboxService,
  SandboxStatus,
  TailLogsRequestSchema,
  type TailLogsResponse,
  type WatchSandboxesResponse,
} from "../../gen/claude_sandbox/v1/sandbox_service_pb.js";
import type { Caller } from "../../server/http/caller.js";
import type { SystemSampler, SystemSnapshot } from "../../server/metrics/system-sampler.js";
import { createRoutes } from "../../server/routes.js";
import { SandboxError } from "../../server/sandbox/errors.js";
import { actAs } from "../../server/service/caller.js";
import { createSandboxService } from "../../server/service/sandbox-service.js";
import { INTERNAL_MESSAGE } from "../../server/service/to-connect-error.js";
import { MAX_PENDING_WATCH_EVENTS } from "../../server/service/watch-sandboxes.js";
import { createFakeLogHub, createFakeManager, fakeRecord } from "../helpers/fake-manager.js";
import { codeOf } from "../helpers/rpc-error.js";
import { waitUntil } from "../helpers/wait.js";

const aborts: AbortController[] = [];
afterEach(() => {
  for (const ac of aborts.splice(0)) ac.abort();
});

// Who the listener would name as the caller of these requests (the gateway passes it the same way).
const CALLER: Caller = { uid: 1234, gid: 1234, groups: [1234, 27], pid: 4321, via: "unix-peer" };

function setup(
  options: { watchKeepaliveMs?: number; caller?: Caller | null; systemMetrics?: SystemSampler } = {},
) {
  const manager = createFakeManager({ tmuxSocket: "/srv/state/tmux.sock" });
  const logHub = createFakeLogHub();
  const shutdown = new AbortController();
  aborts.push(shutdown);
  const reported: { rpc: string; err: unknown }[] = [];
  const routes = createRoutes({
    manager,
    logHub,
    shutdownSignal: shutdown.signal,
    watchKeepaliveMs: options.watchKeepaliveMs,
    systemMetrics: options.systemMetrics,
    reportError: (rpc, err) => reported.push({ rpc, err }),
  });
  const caller = options.caller === undefined ? CALLER : options.caller;
  const transport = createRouterTransport(routes, {
    router: {
      shutdownSignal: shutdown.signal,
      interceptors: [actAs(caller ?? undefined)],
    },
  });
  return { client: createClient(SandboxService, transport), manager, logHub, shutdown, reported };
}

/** Reads a server stream in the background; `next()` waits for the next message. */
function reader<T>(stream: AsyncIterable<T>) {
  const it = stream[Symbol.asyncIterator]();
  return {
    next: async (): Promise<T> => {
      const r = await it.next();
      if (r.done) throw new Error("stream ended");
      return r.value;
    },
    end: async (): Promise<{ done: boolean; error?: ConnectError }> => {
      try {
        const r = await it.next();
        return { done: r.done === true };
      } catch (err) {
        return { done: true, error: ConnectError.from(err) };
      }
    },
  };
}

const streamSignal = () => {
  const ac = new AbortController();
  aborts.push(ac);
  return ac.signal;
};

describe("SandboxService over the router transport", () => {
  it("CreateSandbox maps the request to the domain and the record back to a Sandbox message", async () => {
    const { client, manager } = setup();
    const { sandbox } = await client.createSandbox({
      name: "web",
      backend: Backend.CONTAINER,
      projectDir: "/srv/web",
      shell: true,
      agentArgs: ["-c", "make test"],
    });
    expect(manager.creates).toEqual([
      {
        name: "web",
        backend: "container",
        projectDir: "/srv/web",
        network: true,
        shell: true,
        agentArgs: ["-c", "make test"],
      },
    ]);
    expect(sandbox).toMatchObject({
      name: "web",
      backend: Backend.CONTAINER,
      projectDir: "/srv/web",
      status: SandboxStatus.RUNNING,
      displayNum: 50,
      pidXvfb: 4242,
      network: true,
      shell: true,
      agentArgs: ["-c", "make test"],
      tmuxSocket: "/srv/state/tmux.sock",
      statusReason: "launcher started",
    });
    expect(sandbox?.tmuxSession).toBe(`sandbox-${sandbox?.id.slice(0, 8)}`);
    expect(sandbox?.stoppedAt).toBeUndefined();
    expect(sandbox?.exitCode).toBeUndefined();
    expect(sandbox?.qemuQmpSocket).toBeUndefined();
    // The project is the caller's business: the manager checks it as the caller, not as the daemon.
    expect(manager.requesters).toEqual([CALLER]);
  });

  it("CreateSandbox refuses a request that names no caller with permission_denied, creating nothing", async () => {
    const { client, manager } = setup({ caller: null });
    const result = await codeOf(
      client.createSandbox({ name: "x", backend: Backend.BUBBLEWRAP, projectDir: "/srv/web" }),
    );
    expect(result.code).toBe(Code.PermissionDenied);
    expect(result.message).toContain("no caller identity");
    expect(manager.creates).toEqual([]);
  });

  it("CreateSandbox passes network=false through and defaults it to true", async () => {
    const { client, manager } = setup();
    await client.createSandbox({ name: "a", backend: Backend.VM, projectDir: "/p", network: false });
    await client.createSandbox({ name: "b", backend: Backend.BUBBLEWRAP, projectDir: "/p" });
    expect(manager.creates.map((c) => [c.backend, c.network])).toEqual([
      ["vm", false],
      ["bubblewrap", true],
    ]);
  });

  it("CreateSandbox rejects an unset or unknown backend as invalid_argument naming backend, starting nothing", async () => {
    const { client, manager } = setup();
    expect(await codeOf(client.createSandbox({ name: "a", projectDir: "/p" }))).toEqual({
      code: Code.InvalidArgument,
      message: "backend: must be set (BACKEND_BUBBLEWRAP, BACKEND_CONTAINER or BACKEND_VM)",
    });
    expect(
      await codeOf(client.createSandbox({ name: "a", backend: 99 as Backend, projectDir: "/p" })),
    ).toEqual({
      code: Code.InvalidArgument,
      message: "backend: unknown value 99",
    });
    expect(manager.creates).toEqual([]);
  });

  it("CreateSandbox passes domain errors through with their code and message", async () => {
    const { client, manager } = setup();
    expect(await codeOf(client.createSandbox({ name: "", backend: Backend.VM, projectDir: "/p" }))).toEqual({
      code: Code.InvalidArgument,
      message: "name: must not be empty",
    });
    manager.failCreateWith = new SandboxError(
      "failed_precondition",
      "Xvfb was not found on PATH; install it (Debian package: xvfb)",
    );
    expect(await codeOf(client.createSandbox({ name: "x", backend: Backend.VM, projectDir: "/p" }))).toEqual({
      code: Code.FailedPrecondition,
      message: "Xvfb was not found on PATH; install it (Debian package: xvfb)",
    });
  });

  it("hides an unexpected error behind Internal and reports it for the log", async () => {
    const { client, manager, reported } = setup();
    manager.failCreateWith = new Error("ENOMEM at /secret/place");
    expect(await codeOf(client.createSandbox({ name: "x", backend: Backend.VM, projectDir: "/p" }))).toEqual({
      code: Code.Internal,
      message: INTERNAL_MESSAGE,
    });
    expect(reported.map((r) => r.rpc)).toEqual(["CreateSandbox"]);
  });

  it("converts every status, timestamps, exit details and the VM socket", async () => {
    const { client, manager } = setup();
    manager.seed(
      fakeRecord({
        id: "dead0000-0000-4000-8000-000000000000",
        backend: "vm",
        status: "dead",
        created_at: "2026-11-22T10:00:00.123Z",
        stopped_at: "2026-11-22T10:05:00.000Z",
        exit_code: 3,
        exit_signal: null,
        status_reason: "launcher exited with status 3",
        qemu_qmp_socket: "/srv/state/qmp/dead0000.sock",
        display_num: null,
        pid_xvfb: null,
      }),
    );
    manager.seed(
      fakeRecord({ id: "stop0000-0000-4000-8000-000000000000", status: "stopped", exit_signal: "SIGKILL" }),
    );
    const dead = (await client.getSandbox({ id: "dead0000-0000-4000-8000-000000000000" })).sandbox;
    expect(dead).toMatchObject({
      status: SandboxStatus.DEAD,
      backend: Backend.VM,
      exitCode: 3,
      statusReason: "launcher exited with status 3",
      qemuQmpSocket: "/srv/state/qmp/dead0000.sock",
    });
    expect(dead?.displayNum).toBeUndefined();
    expect(dead?.pidXvfb).toBeUndefined();
    expect(dead?.exitSignal).toBeUndefined();
    expect(timestampDate(dead?.createdAt ?? fail()).toISOString()).toBe("2026-11-22T10:00:00.123Z");
    expect(timestampDate(dead?.stoppedAt ?? fail()).toISOString()).toBe("2026-11-22T10:05:00.000Z");
    const stopped = (await client.getSandbox({ id: "stop0000-0000-4000-8000-000000000000" })).sandbox;
    expect(stopped?.status).toBe(SandboxStatus.STOPPED);
    expect(stopped?.exitSignal).toBe("SIGKILL");
  });

  it("ListSandboxes returns newest first", async () => {
    const { client } = setup();
    for (const name of ["first", "second", "third"]) {
      await client.createSandbox({ name, backend: Backend.BUBBLEWRAP, projectDir: "/p" });
    }
    const { sandboxes } = await client.listSandboxes({});
    expect(sandboxes.map((s) => s.name)).toEqual(["third", "second", "first"]);
  });

  it("StopSandbox and DeleteSandbox act on the manager; every id RPC answers not_found for an unknown id", async () => {
    const { client } = setup();
    const { sandbox } = await client.createSandbox({
      name: "x",
      backend: Backend.BUBBLEWRAP,
      projectDir: "/p",
    });
    const id = sandbox?.id ?? "";
    const stopped = await client.stopSandbox({ id });
    expect(stopped.sandbox?.status).toBe(SandboxStatus.STOPPED);
    expect((await client.stopSandbox({ id })).sandbox?.status).toBe(SandboxStatus.STOPPED);
    await client.deleteSandbox({ id });
    const unknown = { id };
    const notFound = { code: Code.NotFound, message: `sandbox ${JSON.stringify(id)} not found` };
    expect(await codeOf(client.getSandbox(unknown))).toEqual(notFound);
    expect(await codeOf(client.stopSandbox(unknown))).toEqual(notFound);
    expect(await codeOf(client.deleteSandbox(unknown))).toEqual(notFound);
    expect(await codeOf(client.getLogs(unknown))).toEqual(notFound);
    expect(await codeOf(reader(client.tailLogs(unknown, { signal: streamSignal() })).next())).toEqual(
      notFound,
    );
  });

  it("GetLogs defaults the limit to 256 KiB, allows 4 MiB, rejects more, and returns bigint offsets", async () => {
    const { client, manager, logHub } = setup();
    const { sandbox } = await client.createSandbox({
      name: "x",
      backend: Backend.BUBBLEWRAP,
      projectDir: "/p",
    });
    const id = sandbox?.id ?? "";
    logHub.files.set(manager.logPath(id), Buffer.from("hello world\n"));
    const tail = await client.getLogs({ id });
    expect(logHub.reads.at(-1)).toEqual({ path: `/state/logs/${id}.log`, offset: undefined, limit: 262144 });
    expect(Buffer.from(tail.data).toString()).toBe("hello world\n");
    expect(tail.offset).toBe(0n);
    expect(tail.size).toBe(12n);
    const range = await client.getLogs({ id, offset: 6n, limit: 4 * 1024 * 1024 });
    expect(logHub.reads.at(-1)).toEqual({ path: `/state/logs/${id}.log`, offset: 6, limit: 4194304 });
    expect(Buffer.from(range.data).toString()).toBe("world\n");
    expect(range.offset).toBe(6n);
    expect(await codeOf(client.getLogs({ id, limit: 4 * 1024 * 1024 + 1 }))).toEqual({
      code: Code.InvalidArgument,
      message: "limit: at most 4194304 bytes per read, got 4194305",
    });
    expect((await codeOf(client.getLogs({ id, offset: 2n ** 63n }))).code).toBe(Code.InvalidArgument);
  });

  it("TailLogs streams chunks with offsets and next_offset, then the hub's end", async () => {
    const { client, logHub } = setup();
    const { sandbox } = await client.createSandbox({
      name: "x",
      backend: Backend.BUBBLEWRAP,
      projectDir: "/p",
    });
    const id = sandbox?.id ?? "";
    const stream = reader(client.tailLogs({ id, backlogLines: 10 }, { signal: streamSignal() }));
    const first = stream.next();
    await waitUntil("the tail to start", () => logHub.tails.length === 1, 2000, 2);
    expect(logHub.tails[0]?.options).toMatchObject({ backlogLines: 10, fromOffset: undefined });
    logHub.push(id, { type: "chunk", offset: 100, data: Buffer.from("abc") });
    expectChunk(await first, 100n, "abc", 103n);
    logHub.push(id, { type: "keepalive", offset: 103 });
    expect((await stream.next()).event).toEqual({
      case: "keepalive",
      value: expect.objectContaining({ offset: 103n }),
    });
    logHub.end(id, "too_slow");
    const end = (await stream.next()).event;
    expect(end.case).toBe("end");
    expect(end.case === "end" && end.value.reason).toBe(LogEndReason.TOO_SLOW);
    expect(await stream.end()).toEqual({ done: true });
  });

  it("TailLogs resumes from an offset and rejects an offset beyond 2^53", async () => {
    const { client, logHub } = setup();
    const { sandbox } = await client.createSandbox({
      name: "x",
      backend: Backend.BUBBLEWRAP,
      projectDir: "/p",
    });
    const id = sandbox?.id ?? "";
    const stream = reader(client.tailLogs({ id, fromOffset: 5000n }, { signal: streamSignal() }));
    const first = stream.next();
    await waitUntil("the tail to start", () => logHub.tails.length === 1, 2000, 2);
    expect(logHub.tails[0]?.options.fromOffset).toBe(5000);
    logHub.push(id, { type: "chunk", offset: 5000, data: Buffer.from("x") });
    expectChunk(await first, 5000n, "x", 5001n);
    expect((await codeOf(reader(client.tailLogs({ id, fromOffset: 2n ** 60n })).next())).code).toBe(
      Code.InvalidArgument,
    );
  });

  it("TailLogs maps the hub's deleted end to LogEnd DELETED", async () => {
    const { client, logHub } = setup();
    const { sandbox } = await client.createSandbox({
      name: "x",
      backend: Backend.BUBBLEWRAP,
      projectDir: "/p",
    });
    const id = sandbox?.id ?? "";
    const stream = reader(client.tailLogs({ id }, { signal: streamSignal() }));
    const first = stream.next();
    await waitUntil("the tail to start", () => logHub.tails.length === 1, 2000, 2);
    logHub.end(id, "deleted");
    const end = (await first).event;
    expect(end.case === "end" && end.value.reason).toBe(LogEndReason.DELETED);
  });

  it("TailLogs ends with DeadlineExceeded when the client's deadline passes, not as if the log had ended", async () => {
    // Called directly: a client enforces its own deadline, so only the handler shows how the server ends.
    const manager = createFakeManager();
    const record = await manager.create({ name: "x", backend: "vm", projectDir: "/p" });
    const service = createSandboxService({ manager, logHub: createFakeLogHub(), reportError: () => {} });
    const ctx = createHandlerContext({
      service: SandboxService,
      method: SandboxService.method.tailLogs,
      protocolName: "connect",
      requestMethod: "POST",
      url: "http://localhost/",
      timeoutMs: 30,
    });
    const request = create(TailLogsRequestSchema, { id: record.id });
    const run = async () => {
      for await (const _ of service.tailLogs(request, ctx)) {
        // no output is pushed: the deadline ends the stream
      }
    };
    await expect(run()).rejects.toMatchObject({ code: Code.DeadlineExceeded });
  });

  it("TailLogs ends with LogEnd SHUTDOWN at the last offset when the daemon shuts down", async () => {
    const { client, logHub, shutdown } = setup();
    const { sandbox } = await client.createSandbox({
      name: "x",
      backend: Backend.BUBBLEWRAP,
      projectDir: "/p",
    });
    const id = sandbox?.id ?? "";
    const stream = reader(client.tailLogs({ id }, { signal: streamSignal() }));
    const first = stream.next();
    await waitUntil("the tail to start", () => logHub.tails.length === 1, 2000, 2);
    logHub.push(id, { type: "chunk", offset: 0, data: Buffer.from("hello") });
    await first;
    // The fake hub ends quietly on abort, as a hub that was not closed first would.
    shutdown.abort(new ConnectError("manager shutting down", Code.Unavailable));
    const end = (await stream.next()).event;
    expect(end.case).toBe("end");
    if (end.case === "end") {
      expect(end.value.reason).toBe(LogEndReason.SHUTDOWN);
      expect(end.value.offset).toBe(5n);
    }
    expect(await stream.end()).toEqual({ done: true });
  });

  it("WatchSandboxes sends a snapshot first, then upserts and deletes, and unsubscribes on abort", async () => {
    const { client, manager } = setup();
    await client.createSandbox({ name: "before", backend: Backend.BUBBLEWRAP, projectDir: "/p" });
    const ac = new AbortController();
    aborts.push(ac);
    const stream = reader(client.watchSandboxes({}, { signal: ac.signal }));
    const snapshot = (await stream.next()).event;
    expect(snapshot.case).toBe("snapshot");
    expect(snapshot.case === "snapshot" && snapshot.value.sandboxes.map((s) => s.name)).toEqual(["before"]);
    const { sandbox } = await client.createSandbox({ name: "after", backend: Backend.VM, projectDir: "/p" });
    const id = sandbox?.id ?? "";
    await client.stopSandbox({ id });
    await client.deleteSandbox({ id });
    const events = [await stream.next(), await stream.next(), await stream.next()].map(describeWatch);
    expect(events).toEqual([`upserted after running`, `upserted after stopped`, `deleted ${id}`]);
    expect(manager.listenerCount).toBe(1);
    ac.abort();
    await stream.end();
    await waitUntil("the watch to unsubscribe", () => manager.listenerCount === 0, 2000, 2);
  });

  it("WatchSandboxes loses no change made right after the snapshot and keeps order", async () => {
    const { client, manager } = setup();
    const stream = reader(client.watchSandboxes({}, { signal: streamSignal() }));
    const snapshotPromise = stream.next();
    await waitUntil("the watch to subscribe", () => manager.listenerCount === 1, 2000, 2);
    // Changes made before the client read the snapshot are queued, not lost.
    const seeded = fakeRecord({ id: "11111111-0000-4000-8000-000000000000", name: "late" });
    manager.update(seeded);
    manager.update({ ...seeded, status: "dead" });
    expect((await snapshotPromise).event.case).toBe("snapshot");
    expect([await stream.next(), await stream.next()].map(describeWatch)).toEqual([
      "upserted late running",
      "upserted late dead",
    ]);
  });

  it("WatchSandboxes tells a client that stopped reading to reconnect instead of buffering without bound", async () => {
    const { client, manager } = setup();
    const stream = reader(client.watchSandboxes({}, { signal: streamSignal() }));
    expect((await stream.next()).event.case).toBe("snapshot");
    const record = fakeRecord({ id: "22222222-0000-4000-8000-000000000000" });
    for (let i = 0; i <= MAX_PENDING_WATCH_EVENTS; i++)
      manager.update({ ...record, status_reason: `change ${i}` });
    let received = 0;
    for (;;) {
      const result = await stream.end().catch(() => ({ done: true }));
      if ("error" in result && result.error !== undefined) {
        expect(result.error.code).toBe(Code.ResourceExhausted);
        expect(result.error.rawMessage).toContain("reconnect to get a fresh snapshot");
        break;
      }
      if (result.done) throw new Error("stream ended without an error");
      received++;
    }
    expect(received).toBe(MAX_PENDING_WATCH_EVENTS);
    expect(manager.listenerCount).toBe(0);
  });

  it("WatchSandboxes sends keepalives while nothing changes", async () => {
    const { client } = setup({ watchKeepaliveMs: 20 });
    const stream = reader(client.watchSandboxes({}, { signal: streamSignal() }));
    expect((await stream.next()).event.case).toBe("snapshot");
    expect((await stream.next()).event.case).toBe("keepalive");
    expect((await stream.next()).event.case).toBe("keepalive");
  });

  it("WatchSandboxes ends with Unavailable 'manager shutting down' on shutdown", async () => {
    const { client, shutdown, manager } = setup();
    const stream = reader(client.watchSandboxes({}, { signal: streamSignal() }));
    expect((await stream.next()).event.case).toBe("snapshot");
    shutdown.abort(new ConnectError("manager shutting down", Code.Unavailable));
    const end = await stream.end();
    expect(end.error?.code).toBe(Code.Unavailable);
    expect(end.error?.rawMessage).toBe("manager shutting down");
    expect(manager.listenerCount).toBe(0);
  });

  it.each([
    ["getScreenshot", "GetScreenshot is not implemented yet: screenshots come with the observability work"],
    [
      "getSandboxMetrics",
      "GetSandboxMetrics is not implemented yet: Claude session metrics come with the observability work",
    ],
  ] as const)("%s answers unimplemented, saying when it comes", async (method, message) => {
    const { client } = setup();
    expect(await codeOf(client[method]({ id: "x" }))).toEqual({ code: Code.Unimplemented, message });
  });

  it("answers GetSystemMetrics with the sampler's last figures, bytes as integers", async () => {
    const snapshot: SystemSnapshot = {
      cpuUsage: 37.5,
      cpuCount: 2,
      loadAverage: [1.5, 1, 0.5],
      memoryUsed: 3 * 2 ** 30,
      memoryTotal: 24 * 2 ** 30,
      diskUsed: 10 ** 11,
      diskTotal: 10 ** 12,
      netRxBytes: 123,
      netTxBytes: 456,
      uptimeSeconds: 3600.5,
      sampledAt: new Date("2026-12-04T20:00:00Z"),
      sandboxes: [
        { id: "a", cpuPercent: 99.5, memoryBytes: 50 * 2 ** 20 },
        { id: "b", cpuPercent: null, memoryBytes: null },
      ],
    };
    const { client } = setup({
      systemMetrics: { latest: () => snapshot, current: async () => snapshot, close() {} },
    });
    const m = await client.getSystemMetrics({});
    expect(m).toMatchObject({
      cpuUsage: 37.5,
      cpuCount: 2,
      loadAverage: [1.5, 1, 0.5],
      memoryUsed: 3n * 2n ** 30n,
      memoryTotal: 24n * 2n ** 30n,
      diskUsed: 10n ** 11n,
      diskTotal: 10n ** 12n,
      netRxBytes: 123n,
      netTxBytes: 456n,
      uptimeSeconds: 3600.5,
    });
    expect(timestampDate(m.sampledAt ?? create(TimestampSchema)).toISOString()).toBe(
      "2026-12-04T20:00:00.000Z",
    );
    expect(m.sandboxes.map((s) => [s.id, s.cpuPercent, s.memoryBytes])).toEqual([
      ["a", 99.5, 50n * 2n ** 20n],
      ["b", undefined, undefined],
    ]);
  });

  it("answers GetSystemMetrics unavailable where nothing samples the host", async () => {
    const { client } = setup();
    expect(await codeOf(client.getSystemMetrics({}))).toEqual({
      code: Code.Unavailable,
      message: "this daemon samples no system metrics",
    });
  });
});

function describeWatch(message: WatchSandboxesResponse): string {
  const e = message.event;
  if (e.case === "upserted") return `upserted ${e.value.name} ${SandboxStatus[e.value.status].toLowerCase()}`;
  if (e.case === "deleted") return `deleted ${e.value.id}`;
  return String(e.case);
}

function expectChunk(message: TailLogsResponse, offset: bigint, data: string, next: bigint) {
  expect(message.event.case).toBe("chunk");
  if (message.event.case !== "chunk") return;
  expect(message.event.value.offset).toBe(offset);
  expect(Buffer.from(message.event.value.data).toString()).toBe(data);
  expect(message.event.value.nextOffset).toBe(next);
}

function fail(): never {
  throw new Error("missing value");
}
