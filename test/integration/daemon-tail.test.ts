// TailLogs through the real daemon under load: two clients of one sandbox while it prints tens of megabytes.
// The one that reads gets every byte in order; the one that stopped reading is cut off with LogEnd TOO_SLOW
// instead of stalling the other or growing the daemon's memory, and it resumes from that offset without a gap.
// A cut-off client that never reads again does not keep its connection either, and a tail with nothing to
// send yet answers at once.

import { createHash } from "node:crypto";
import { type ClientRequest, request as httpRequest, type IncomingMessage } from "node:http";
import { fromJson } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { Backend, LogEndReason, type TailLogsResponse, TailLogsResponseSchema } from "../../client/index.js";
import { TAIL_END_GRACE_MS } from "../../server/service/tail-logs.js";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import { type Daemon, typeIntoPane } from "../helpers/start-daemon.js";
import { serverSideState, TCP_ESTABLISHED } from "../helpers/tcp-state.js";
import { waitUntil } from "../helpers/wait.js";

const fx = useDaemonFixture();

// Far more than the hub's per-client buffer (8 MiB) plus what the sockets hold.
const FLOOD_BYTES = 48 * 1024 * 1024;
// The last line the fixture prints (the pane's terminal turns \n into \r\n); nothing follows it.
const DONE = "fixture-flood-done\r\n";

const rawResponses: IncomingMessage[] = [];
const rawRequests: ClientRequest[] = [];

afterEach(async () => {
  for (const res of rawResponses.splice(0)) res.destroy();
  for (const req of rawRequests.splice(0)) req.destroy();
});

interface RawTail {
  /** Starts reading again; yields the stream's messages. */
  resume(): AsyncIterator<TailLogsResponse>;
  /** The client's port once the response arrived, to find the daemon's side of the connection. */
  localPort(): Promise<number>;
}

/**
 * TailLogs over the Connect protocol (JSON) by hand. Its response is paused as soon as it arrives (the daemon
 * sends headers with the first message), and read only once resume() is called.
 */
function rawTail(port: string, token: string | undefined, request: object): RawTail {
  const body = Buffer.from(JSON.stringify(request));
  const envelope = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), body]);
  envelope.writeUInt32BE(body.length, 1);
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    const req = httpRequest(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/claude_sandbox.v1.SandboxService/TailLogs",
        headers: { "content-type": "application/connect+json", authorization: `Bearer ${token}` },
      },
      (res) => {
        res.pause();
        rawResponses.push(res);
        resolve(res);
      },
    );
    rawRequests.push(req);
    req.on("error", reject);
    req.end(envelope);
  });
  return {
    async *resume() {
      yield* parseEnvelopes(await response);
    },
    localPort: async () => (await response).socket.localPort ?? 0,
  };
}

async function createFloodSandbox(daemon: Daemon) {
  const { client } = daemon;
  const { sandbox } = await client.createSandbox({
    name: "flood",
    backend: Backend.BUBBLEWRAP,
    projectDir: fx.projectDir,
  });
  if (sandbox === undefined) throw new Error("no sandbox in the response");
  const { id } = sandbox;
  await waitUntil("the fixture's first lines", async () =>
    Buffer.from((await client.getLogs({ id })).data)
      .toString()
      .includes("fixture-launcher DISPLAY="),
  );
  return sandbox;
}

async function* parseEnvelopes(res: AsyncIterable<Buffer>): AsyncGenerator<TailLogsResponse> {
  let pending = Buffer.alloc(0);
  for await (const chunk of res) {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
      const flags = pending[0] ?? 0;
      const message = pending.subarray(5, 5 + pending.readUInt32BE(1));
      pending = pending.subarray(5 + message.length);
      if ((flags & 0x02) !== 0) return; // end of stream
      yield fromJson(TailLogsResponseSchema, JSON.parse(message.toString()));
    }
  }
}

/** Reads a tail, checking that chunks are contiguous, until `until` is seen or the stream ends. */
async function consume(
  stream: AsyncIterator<TailLogsResponse>,
  options: { from?: bigint; until?: string; hash?: ReturnType<typeof createHash> },
) {
  let next = options.from;
  let first: bigint | undefined;
  let bytes = 0n;
  let recent = "";
  let end: { reason: LogEndReason; offset: bigint } | undefined;
  for (;;) {
    const result = await stream.next();
    if (result.done) break;
    const event = result.value.event;
    if (event.case === "end") {
      end = { reason: event.value.reason, offset: event.value.offset };
      break;
    }
    if (event.case !== "chunk") continue;
    const { offset, data, nextOffset } = event.value;
    if (next !== undefined && offset !== next)
      throw new Error(`gap or overlap: expected offset ${next}, got ${offset}`);
    first ??= offset;
    next = nextOffset;
    bytes += BigInt(data.length);
    options.hash?.update(data);
    recent = (recent + Buffer.from(data.subarray(Math.max(0, data.length - 64))).toString("latin1")).slice(
      -128,
    );
    if (options.until !== undefined && recent.includes(options.until)) break;
  }
  return { first, next, bytes, end };
}

describe("TailLogs under load", () => {
  it("keeps a reading client complete while a stalled one is cut off with TOO_SLOW and resumes without a gap", async () => {
    // TCP: the raw client's kernel buffers are what fills up.
    const daemon = await fx.start({ transport: "tcp" });
    const { client } = daemon;
    const sandbox = await createFloodSandbox(daemon);
    const { id } = sandbox;

    // Both clients start at the same place: the end of the log as it is now.
    const start = (await client.getLogs({ id, limit: 1 })).size;
    const fast = client
      .tailLogs({ id, fromOffset: start }, { signal: fx.abortLater() })
      [Symbol.asyncIterator]();
    // A raw HTTP client that stops reading its socket: the kernel buffers fill and the daemon must cope.
    const slow = rawTail(new URL(daemon.address).port, daemon.token, { id, fromOffset: String(start) });
    const fastHash = createHash("sha256");
    const fastRun = consume(fast, { from: start, until: DONE, hash: fastHash });
    // The slow client reads nothing at all from here on, until the flood is over.
    await typeIntoPane(daemon.stateDir, sandbox.tmuxSession ?? "", `flood ${FLOOD_BYTES}`);

    const fastResult = await fastRun;
    expect(fastResult.first).toBe(start);
    expect(fastResult.bytes).toBeGreaterThan(BigInt(FLOOD_BYTES));
    const fastEnd = fastResult.next ?? 0n;

    const slowHash = createHash("sha256");
    const slowResult = await consume(slow.resume(), { from: start, hash: slowHash });
    expect(slowResult.end?.reason).toBe(LogEndReason.TOO_SLOW);
    // The end names exactly where the client got to, so resuming there loses and repeats nothing.
    expect(slowResult.end?.offset).toBe(slowResult.next ?? start);
    expect(slowResult.bytes).toBeLessThan(BigInt(FLOOD_BYTES));
    const resumeAt = slowResult.end?.offset ?? 0n;
    const resumed = client
      .tailLogs({ id, fromOffset: resumeAt }, { signal: fx.abortLater() })
      [Symbol.asyncIterator]();
    const rest = await consume(resumed, { from: resumeAt, until: DONE, hash: slowHash });
    expect(rest.first).toBe(resumeAt);
    // Together, the cut-off stream and its resumption are byte for byte what the reading client got.
    expect(rest.next).toBe(fastEnd);
    expect(slowHash.digest("hex")).toBe(fastHash.digest("hex"));
    expect(daemon.child.exitCode).toBeNull();
  });
});

describe("TailLogs responses", () => {
  it("a tail resumed at the end of the log answers at once with a keepalive at that offset", async () => {
    const daemon = await fx.start();
    const { client } = daemon;
    const { id } = await createFloodSandbox(daemon);
    const start = (await client.getLogs({ id, limit: 1 })).size;
    const began = performance.now();
    const tail = client
      .tailLogs({ id, fromOffset: start }, { signal: fx.abortLater() })
      [Symbol.asyncIterator]();
    const first = await tail.next();
    // The daemon's keepalive interval is 15 s: anything this early is the immediate answer.
    expect(performance.now() - began).toBeLessThan(1000);
    expect(first.value?.event).toEqual({
      case: "keepalive",
      value: expect.objectContaining({ offset: start }),
    });
  });

  it("closes the connection of a client cut off with TOO_SLOW that never reads again, within the grace period", async () => {
    // TCP: the connection's state is read from the kernel's TCP table.
    const daemon = await fx.start({ transport: "tcp" });
    const { client } = daemon;
    const sandbox = await createFloodSandbox(daemon);
    const { id } = sandbox;
    const start = (await client.getLogs({ id, limit: 1 })).size;
    const serverPort = Number(new URL(daemon.address).port);
    const stalled = rawTail(String(serverPort), daemon.token, { id, fromOffset: String(start) });
    const clientPort = await stalled.localPort();
    expect(await serverSideState(serverPort, clientPort)).toBe(TCP_ESTABLISHED);

    await typeIntoPane(daemon.stateDir, sandbox.tmuxSession ?? "", `flood ${FLOOD_BYTES}`);
    await waitUntil(
      "the end of the flood",
      async () =>
        Buffer.from((await client.getLogs({ id, limit: 256 })).data)
          .toString()
          .includes(DONE),
      30_000,
    );
    // The client was cut off during the flood, so its grace period began before this point.
    await waitUntil(
      "the daemon to close the stalled client's connection",
      async () => (await serverSideState(serverPort, clientPort)) !== TCP_ESTABLISHED,
      TAIL_END_GRACE_MS + 5_000,
    );
    // Cutting the response is the end of a stream, not a failure the daemon reports.
    expect(daemon.stderr()).not.toContain("handler for rpc");
    expect(daemon.child.exitCode).toBeNull();
  });
});
