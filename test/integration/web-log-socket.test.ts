// GET /ws/sandboxes/:id/logs through a real daemon, reached as a browser reaches it: a WebSocket (the `ws`
// package) over a loopback port tunnelled to the manager's Unix socket. A new socket gets the last 1000 lines,
// then live output; ?from= resumes exactly where a previous socket stopped; a refused upgrade is a plain HTTP
// answer; deletion and shutdown end the stream saying so; a client that stops reading is cut off with
// too_slow instead of the daemon queueing the log for it, and resumes from there without a gap.

import { createHash } from "node:crypto";
import { truncate } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import { createLinesSandbox, startLinesDaemon } from "../helpers/lines-sandbox.js";
import {
  type LogSocketClient,
  logSocketUrl,
  openLogSocket,
  refusedUpgrade,
} from "../helpers/log-socket-client.js";
import { waitUntil } from "../helpers/wait.js";

const fx = useDaemonFixture();
const DISPLAY_BASE = 7600;

async function open(url: string): Promise<LogSocketClient> {
  const client = await openLogSocket(url);
  fx.cleanupLater(() => client.ws.terminate());
  return client;
}

function lineCount(text: string): number {
  return text.split("\n").length - 1;
}

describe("the log WebSocket", () => {
  it("starts with exactly the last 1000 lines, then follows live output", async () => {
    const { daemon, tunnel } = await startLinesDaemon(fx, DISPLAY_BASE);
    const sandbox = await createLinesSandbox(daemon, fx.projectDir);
    await sandbox.run("lines 1 1500");

    const client = await open(logSocketUrl(tunnel.url, sandbox.id));
    await client.waitForText("fixture-done lines 1 1500\r\n");
    const log = await sandbox.log();
    const backlog = client.bytes();
    // The last 1000 lines of the log, exactly: 999 numbered ones and the fixture's closing line.
    expect(lineCount(backlog.toString("latin1"))).toBe(1000);
    expect(backlog.toString("latin1").startsWith("line 502\r\n")).toBe(true);
    expect(client.first()).toBe(log.length - backlog.length);
    expect(log.subarray(log.length - backlog.length).equals(backlog)).toBe(true);

    await sandbox.type("lines 1501 1600");
    await client.waitForText("fixture-done lines 1501 1600\r\n");
    // Live bytes continue the backlog with nothing missing or repeated.
    expect((await sandbox.log(client.first())).equals(client.bytes())).toBe(true);
    expect(client.problems).toEqual([]);
    expect(client.text()).toContain("line 1600\r\n");
  });

  it("resumes at ?from= with no gap and no duplicate, and from=0 sends the whole log", async () => {
    const { daemon, tunnel } = await startLinesDaemon(fx, DISPLAY_BASE);
    const sandbox = await createLinesSandbox(daemon, fx.projectDir);
    await sandbox.run("lines 1 200");
    const first = await open(logSocketUrl(tunnel.url, sandbox.id));
    await first.waitForText("fixture-done lines 1 200\r\n");
    const stoppedAt = first.next();
    first.ws.close();
    await first.closed;

    // Output while nobody watches; the next socket picks up exactly where the first one stopped.
    await sandbox.run("lines 201 400");
    const second = await open(logSocketUrl(tunnel.url, sandbox.id, stoppedAt));
    await second.waitForText("fixture-done lines 201 400\r\n");
    expect(second.first()).toBe(stoppedAt);
    const both = Buffer.concat([first.bytes(), second.bytes()]);
    expect(both.equals(await sandbox.log(first.first()))).toBe(true);
    expect([...first.problems, ...second.problems]).toEqual([]);
    for (let n = 1; n <= 400; n++) expect(both.toString("latin1").split(`\nline ${n}\r\n`).length).toBe(2);

    const whole = await open(logSocketUrl(tunnel.url, sandbox.id, 0));
    await whole.waitForText("fixture-done lines 201 400\r\n");
    expect(whole.first()).toBe(0);
    expect(whole.bytes().equals(await sandbox.log())).toBe(true);

    // At the very end there is nothing to send yet: the socket says where it stands at once.
    const size = (await sandbox.log()).length;
    const atEnd = await open(logSocketUrl(tunnel.url, sandbox.id, size));
    await waitUntil("the first message", () => atEnd.controls.length > 0 || atEnd.chunks.length > 0);
    expect(atEnd.controls[0]).toEqual({ type: "keepalive", offset: size });
  });

  it("refuses a bad ?from with 400, an unknown sandbox or path with 404, before any WebSocket opens", async () => {
    const { daemon, tunnel } = await startLinesDaemon(fx, DISPLAY_BASE);
    const sandbox = await createLinesSandbox(daemon, fx.projectDir);
    for (const from of [
      "",
      "abc",
      "-1",
      "1.5",
      "1e3",
      "0x10",
      " 1",
      "99999999999999999999",
      "9007199254740993",
    ]) {
      const refused = await refusedUpgrade(logSocketUrl(tunnel.url, sandbox.id, from));
      expect(refused.status, `from=${JSON.stringify(from)}`).toBe(400);
      expect(refused.body).toMatch(/^from: /);
    }
    const twice = await refusedUpgrade(`${logSocketUrl(tunnel.url, sandbox.id, 1)}&from=2`);
    expect(twice.status).toBe(400);

    const unknown = await refusedUpgrade(logSocketUrl(tunnel.url, "0123456789abcdef"));
    expect(unknown.status).toBe(404);
    expect(unknown.body).toContain("0123456789abcdef");
    for (const path of [
      "/ws/other",
      `/ws/sandboxes/${sandbox.id}/logs/more`,
      `/ws/sandboxes/${sandbox.id}`,
    ]) {
      const refused = await refusedUpgrade(new URL(path, tunnel.url.replace("http:", "ws:")).href);
      expect(refused.status, path).toBe(404);
    }
    // Another site's page may not open it (the daemon's Host/Origin guard sees upgrades too).
    const crossSite = await refusedUpgrade(logSocketUrl(tunnel.url, sandbox.id), {
      origin: "http://evil.example",
    });
    expect(crossSite.status).toBeGreaterThanOrEqual(400);
    // The refused sockets held nothing: the sandbox's log still streams.
    const client = await open(logSocketUrl(tunnel.url, sandbox.id));
    await client.waitForText("fixture-lines ready");
  });

  it("starts afresh with a reset when ?from is past the end of the log (it was truncated meanwhile)", async () => {
    const { daemon, tunnel } = await startLinesDaemon(fx, DISPLAY_BASE);
    const sandbox = await createLinesSandbox(daemon, fx.projectDir);
    await sandbox.run("lines 1 20");
    const size = (await sandbox.log()).length;
    const client = await open(logSocketUrl(tunnel.url, sandbox.id, size + 1000));
    await client.waitForText("fixture-done lines 1 20\r\n");
    expect(client.controls[0]).toEqual({ type: "reset", offset: 0 });
    expect(client.bytes().equals(await sandbox.log(client.first()))).toBe(true);
  });

  it("says reset when the log is truncated, then streams the new log from offset 0", async () => {
    const { daemon, tunnel } = await startLinesDaemon(fx, DISPLAY_BASE);
    const sandbox = await createLinesSandbox(daemon, fx.projectDir);
    const client = await open(logSocketUrl(tunnel.url, sandbox.id));
    await client.waitForText("fixture-lines ready");
    await sandbox.run("lines 1 10");
    await client.waitForText("fixture-done lines 1 10\r\n");
    const before = client.chunks.length;
    await truncate(join(daemon.stateDir, "logs", `${sandbox.id}.log`), 0);
    await sandbox.run("lines 11 12");
    await client.waitForText("fixture-done lines 11 12\r\n");
    expect(client.controls.filter((c) => c.type === "reset")).toEqual([{ type: "reset", offset: 0 }]);
    const after = Buffer.concat(client.chunks.slice(before).map((c) => c.data));
    expect(client.chunks[before]?.offset).toBe(0);
    expect(after.equals(await sandbox.log())).toBe(true);
    expect(client.problems).toEqual([]);
  });

  it("ends with a message saying the sandbox was deleted", async () => {
    const { daemon, tunnel } = await startLinesDaemon(fx, DISPLAY_BASE);
    const sandbox = await createLinesSandbox(daemon, fx.projectDir);
    // One socket that saw live output (it follows the sandbox's shared feed), one that only has its backlog.
    const live = await open(logSocketUrl(tunnel.url, sandbox.id));
    await live.waitForText("fixture-lines ready");
    await sandbox.run("lines 1 5");
    await live.waitForText("fixture-done lines 1 5\r\n");
    const quiet = await open(logSocketUrl(tunnel.url, sandbox.id));
    await quiet.waitForText("fixture-done lines 1 5\r\n");
    await daemon.client.deleteSandbox({ id: sandbox.id });
    for (const client of [live, quiet]) {
      const closed = await client.closed;
      expect(client.end()).toEqual({
        type: "end",
        reason: "deleted",
        message: expect.stringContaining("deleted"),
        offset: client.next(),
      });
      expect(closed.code).toBe(1000);
    }
    const again = await refusedUpgrade(logSocketUrl(tunnel.url, sandbox.id));
    expect(again.status).toBe(404);
  });

  it("ends every socket with a shutdown message and where to resume when the daemon stops", async () => {
    const { daemon, tunnel } = await startLinesDaemon(fx, DISPLAY_BASE);
    const sandbox = await createLinesSandbox(daemon, fx.projectDir);
    // Two sockets see live output (they follow the shared feed), the third only its backlog.
    const clients = await Promise.all([0, 1].map(() => open(logSocketUrl(tunnel.url, sandbox.id))));
    for (const client of clients) await client.waitForText("fixture-lines ready");
    await sandbox.run("lines 1 50");
    clients.push(await open(logSocketUrl(tunnel.url, sandbox.id)));
    for (const client of clients) await client.waitForText("fixture-done lines 1 50\r\n");
    const size = (await sandbox.log()).length;
    daemon.child.kill("SIGTERM");
    for (const client of clients) {
      const closed = await client.closed;
      expect(client.end()).toEqual({
        type: "end",
        reason: "shutdown",
        message: expect.stringContaining("shutting down"),
        offset: size,
      });
      expect(closed.code).toBe(1001);
    }
    expect((await daemon.exited()).code).toBe(0);
  });

  it("cuts off a client that stopped reading with too_slow instead of queueing the log, while another reads on; it resumes without a gap", async () => {
    const { daemon, tunnel } = await startLinesDaemon(fx, DISPLAY_BASE);
    const sandbox = await createLinesSandbox(daemon, fx.projectDir);
    const flood = 48 * 1024 * 1024;
    const stalled = await open(logSocketUrl(tunnel.url, sandbox.id));
    const reading = await open(logSocketUrl(tunnel.url, sandbox.id));
    await stalled.waitForText("fixture-lines ready");
    await reading.waitForText("fixture-lines ready");
    const start = stalled.first() ?? 0;
    // Its socket is not read any more: the tunnel's and the daemon's socket buffers fill up.
    stalled.ws.pause();
    await sandbox.run(`flood ${flood}`, 60_000);
    // The other socket read on, and got every byte, in order.
    await reading.waitForText(`fixture-done flood ${flood}\r\n`, 60_000);
    const log = await sandbox.log(start);
    expect(reading.first()).toBe(start);
    expect(reading.bytes().equals(log)).toBe(true);
    // A few seconds more to queue, if the daemon were to queue.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    stalled.ws.resume();
    const closed = await stalled.closed;
    const end = stalled.end();
    expect(end?.reason).toBe("too_slow");
    expect(end?.message).toContain("reconnect");
    expect(end?.offset).toBe(stalled.next());
    expect(closed.code).toBe(1013);
    // What it got is what the kernel's buffers and the daemon's bounded queues held, far from the whole flood.
    const received = stalled.bytes().length;
    expect(received).toBeLessThan(flood / 2);

    const resumed = await open(logSocketUrl(tunnel.url, sandbox.id, end?.offset));
    await resumed.waitForText(`fixture-done flood ${flood}\r\n`, 60_000);
    expect(resumed.first()).toBe(end?.offset);
    const got = createHash("sha256").update(stalled.bytes()).update(resumed.bytes()).digest("hex");
    expect(received + resumed.bytes().length).toBe(log.length);
    expect(got).toBe(createHash("sha256").update(log).digest("hex"));
    expect([...stalled.problems, ...resumed.problems, ...reading.problems]).toEqual([]);
  });
});
