import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogHub, type LogHubWithStats } from "../../server/logs/create-log-hub.js";
import { collect, waitUntil } from "./log-tail-helpers.js";

let dir: string;
let hub: LogHubWithStats;
const controllers: AbortController[] = [];

function signal(): AbortSignal {
  const controller = new AbortController();
  controllers.push(controller);
  return controller.signal;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "log-tail-"));
  hub = createLogHub({ keepaliveMs: 60_000 });
});

afterEach(() => {
  for (const controller of controllers.splice(0)) controller.abort();
  hub.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("tail", () => {
  it("sends the backlog, then live lines with exact offsets", async () => {
    const path = join(dir, "a.log");
    writeFileSync(path, "l1\nl2\nl3\nl4\n");
    const c = collect(hub.tail("a", path, { backlogLines: 2, signal: signal() }));
    await waitUntil("backlog", () => c.text() === "l3\nl4\n");
    expect(c.events[0]).toMatchObject({ type: "chunk", offset: 6 });
    for (let i = 5; i <= 20; i++) {
      appendFileSync(path, `l${i}\n`);
      await waitUntil(`line ${i}`, () => c.text().endsWith(`l${i}\n`));
    }
    expect(Buffer.concat([readFileSync(path).subarray(0, 6), c.bytes()])).toEqual(readFileSync(path));
    expect(c.problems).toEqual([]);
  });
});
