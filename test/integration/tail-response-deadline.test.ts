// TailLogs over the app's HTTP/1.1 listener with a client that stops reading its socket. Once the hub has ended
// the tail (TOO_SLOW), the response gets TAIL_END_GRACE_MS without progress: a client that reads again within it
// still gets the end, one that never does has its connection closed, and either way the handler's stream
// finishes instead of waiting forever for a write to drain.
import { appendFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { type IncomingMessage, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromJson } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { LogEndReason, type TailLogsResponse, TailLogsResponseSchema } from "../../client/index.js";
import { createApp } from "../../server/app.js";
import { createLogHub } from "../../server/logs/create-log-hub.js";
import type { LogHub, TailEvent } from "../../server/logs/log-hub.js";
import { TAIL_END_GRACE_MS } from "../../server/service/tail-logs.js";
import { createFakeManager, fakeRecord } from "../helpers/fake-manager.js";
import { freePort } from "../helpers/free-port.js";
import { serverSideState, TCP_ESTABLISHED } from "../helpers/tcp-state.js";
import { waitUntil } from "../helpers/wait.js";

const BUFFER_BYTES = 256 * 1024;
// Far more than the tail's buffer plus what loopback sockets hold.
const FLOOD_BYTES = 32 * 1024 * 1024;

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An app on a real hub over one log file, with the ids of tails whose handler let go of them. */
async function startApp() {
  const dir = await mkdtemp(join(tmpdir(), "tail-deadline-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "sandbox.log");
  await writeFile(file, "first line\n");
  const hub = createLogHub({ maxBufferBytes: BUFFER_BYTES });
  const released: string[] = [];
  // The real hub, on this file whatever the manager's path, noting when TailLogs lets go of a tail.
  const logHub: LogHub = {
    read: (_path, options) => hub.read(file, options),
    tail(key, _path, options) {
      const events = hub.tail(key, file, options)[Symbol.asyncIterator]();
      const tail: AsyncIterableIterator<TailEvent> = {
        [Symbol.asyncIterator]: () => tail,
        next: () => events.next(),
        async return() {
          released.push(key);
          return (await events.return?.()) ?? { done: true, value: undefined };
        },
      };
      return tail;
    },
    end: (key, reason) => hub.end(key, reason),
    close: () => hub.close(),
  };
  const manager = createFakeManager();
  const record = fakeRecord();
  manager.seed(record);
  const port = await freePort();
  const lines: string[] = [];
  const app = createApp({
    listen: { kind: "tcp", host: "127.0.0.1", port },
    token: TOKEN,
    manager,
    logHub,
    log: (line) => lines.push(line),
  });
  cleanups.push(() => app.close());
  await app.listen();
  const flood = async () => {
    const block = `${"x".repeat(1023)}\n`.repeat(1024);
    for (let written = 0; written < FLOOD_BYTES; written += block.length) await appendFile(file, block);
  };
  return { id: record.id, port, hub, released, lines, flood };
}

// A TCP listener takes only requests carrying its token.
const TOKEN = "tail-deadline-token-0123456789abcdef0123456789";

/** TailLogs over the Connect protocol by hand, its response paused as soon as its headers arrive. */
function pausedTail(port: number, body: object): Promise<IncomingMessage> {
  const json = Buffer.from(JSON.stringify(body));
  const envelope = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), json]);
  envelope.writeUInt32BE(json.length, 1);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/claude_sandbox.v1.SandboxService/TailLogs",
        headers: { "content-type": "application/connect+json", authorization: `Bearer ${TOKEN}` },
      },
      (res) => {
        res.pause();
        cleanups.push(() => res.destroy());
        resolve(res);
      },
    );
    cleanups.push(() => req.destroy());
    req.on("error", reject);
    req.end(envelope);
  });
}

/** Reads the rest of a paused response: its messages, and whether the end-of-stream envelope came. */
async function readAll(res: IncomingMessage): Promise<{ messages: TailLogsResponse[]; complete: boolean }> {
  const messages: TailLogsResponse[] = [];
  let pending = Buffer.alloc(0);
  try {
    for await (const chunk of res) {
      pending = Buffer.concat([pending, chunk as Buffer]);
      while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
        const flags = pending[0] ?? 0;
        const message = pending.subarray(5, 5 + pending.readUInt32BE(1));
        pending = pending.subarray(5 + message.length);
        if ((flags & 0x02) !== 0) return { messages, complete: true };
        messages.push(fromJson(TailLogsResponseSchema, JSON.parse(message.toString())));
      }
    }
  } catch {
    // The connection was cut: what arrived before is the answer.
  }
  return { messages, complete: false };
}

describe("a tail whose client stopped reading", () => {
  it("is closed by the server once its end has waited TAIL_END_GRACE_MS, and its handler finishes", async () => {
    const { id, port, hub, released, lines, flood } = await startApp();
    const res = await pausedTail(port, { id, fromOffset: "0" });
    const clientPort = res.socket.localPort ?? 0;
    await flood();
    await waitUntil("the tail to be cut off", () => hub.stats().subscribers === 0);
    const cutAt = performance.now();
    // The end waits for the client: neither the connection nor the handler is dropped at once.
    expect(await serverSideState(port, clientPort)).toBe(TCP_ESTABLISHED);
    expect(released).toEqual([]);
    await waitUntil(
      "the handler to let go of the tail",
      () => released.length === 1,
      TAIL_END_GRACE_MS + 3000,
    );
    expect(performance.now() - cutAt).toBeGreaterThan(TAIL_END_GRACE_MS - 1000);
    await waitUntil(
      "the server to close its end",
      async () => (await serverSideState(port, clientPort)) !== TCP_ESTABLISHED,
      1000,
    );
    expect(lines.filter((line) => line.includes("failed"))).toEqual([]);
  });

  it("still gets its LogEnd TOO_SLOW when it reads again within the grace period", async () => {
    const { id, port, hub, released, flood } = await startApp();
    const res = await pausedTail(port, { id, fromOffset: "0" });
    await flood();
    await waitUntil("the tail to be cut off", () => hub.stats().subscribers === 0);
    await new Promise((resolve) => setTimeout(resolve, TAIL_END_GRACE_MS / 5));
    const { messages, complete } = await readAll(res);
    expect(complete).toBe(true);
    const last = messages.at(-1)?.event;
    expect(last?.case).toBe("end");
    if (last?.case === "end") expect(last.value.reason).toBe(LogEndReason.TOO_SLOW);
    await waitUntil("the handler to let go of the tail", () => released.length === 1, 1000);
  });
});
