import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createDisplayAllocator } from "../../server/sandbox/display-allocator.js";

// High numbers no real X server here uses; every file made is removed afterwards.
const BASE = 4700 + (process.pid % 200) * 10;
const made: string[] = [];
let server: Server | null = null;

afterEach(async () => {
  for (const file of made.splice(0)) rmSync(file, { force: true });
  await new Promise<void>((resolve) => (server === null ? resolve() : server.close(() => resolve())));
  server = null;
});

function file(path: string, content = ""): void {
  writeFileSync(path, content);
  made.push(path);
}

describe("display allocator", () => {
  it("hands out the lowest free numbers, never one reserved or held by a sandbox", () => {
    const allocator = createDisplayAllocator({ base: BASE, usedBySandbox: (n) => n === BASE + 1 });
    expect([allocator.reserve(), allocator.reserve(), allocator.reserve()]).toEqual([
      BASE,
      BASE + 2,
      BASE + 3,
    ]);
    allocator.release(BASE);
    expect(allocator.reserve(new Set([BASE]))).toBe(BASE + 4);
    expect(allocator.reserve()).toBe(BASE);
  });

  it("skips a live lock and a listening socket, and reuses what a crashed server left", async () => {
    mkdirSync("/tmp/.X11-unix", { recursive: true });
    file(`/tmp/.X${BASE}-lock`, `${String(process.pid).padStart(10)}\n`); // held by a live process
    file(`/tmp/.X${BASE + 1}-lock`, "2147483646\n"); // names a process that does not exist: stale
    file(`/tmp/.X11-unix/X${BASE + 2}`); // a socket file nobody listens on: stale
    server = createServer();
    const socket = `/tmp/.X11-unix/X${BASE + 3}`;
    made.push(socket);
    await new Promise<void>((resolve) => server?.listen(socket, resolve));
    const allocator = createDisplayAllocator({ base: BASE, usedBySandbox: () => false });
    expect([allocator.reserve(), allocator.reserve(), allocator.reserve()]).toEqual([
      BASE + 1,
      BASE + 2,
      BASE + 4,
    ]);
  });
});
