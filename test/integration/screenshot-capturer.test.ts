// The capturer against a real Xvfb (no daemon): what it grabs and encodes as the display is drawn on, stays idle,
// or is drawn on with the same pixels, and that a deleted sandbox's frames and connection go.
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readlink, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import sharp from "sharp";
import { afterEach, describe, expect, it } from "vitest";
import type { SandboxEvent, SandboxRecord } from "../../server/sandbox/types.js";
import {
  createScreenshotCapturer,
  type ScreenshotCapturer,
} from "../../server/screenshots/screenshot-capturer.js";
import { writeAuthFile } from "../../server/tools/xauth.js";
import { type RunningXvfb, startXvfb } from "../../server/tools/xvfb.js";
import { waitUntil } from "../helpers/wait.js";

const run = promisify(execFile);
const DISPLAY = Number(process.env.MANAGER_DISPLAY_BASE ?? 7900) + 70;
const cleanups: (() => Promise<unknown> | unknown)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startDisplay(): Promise<{
  xvfb: RunningXvfb;
  authFile: string;
  paint(colour: string): Promise<void>;
}> {
  const dir = await mkdtemp(join(tmpdir(), "csm-capture-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const authFile = join(dir, "xauth");
  await writeAuthFile("xauth", authFile);
  const xvfb = await startXvfb({
    xvfbPath: "Xvfb",
    display: DISPLAY,
    screen: "640x400x24",
    authFile,
    stderrFile: join(dir, "xvfb.log"),
    env: process.env,
  });
  cleanups.push(async () => {
    const exited = new Promise((resolve) => xvfb.child.once("exit", resolve));
    process.kill(xvfb.pid, "SIGTERM");
    await exited;
  });
  const env = { ...process.env, DISPLAY: `:${xvfb.display}`, XAUTHORITY: authFile };
  return {
    xvfb,
    authFile,
    paint: async (colour) => void (await run("xsetroot", ["-solid", colour], { env })),
  };
}

const record = (id: string, display: number): SandboxRecord =>
  ({ id, status: "running", display_num: display }) as SandboxRecord;

/** Sockets the X server holds: its listeners plus one per client connection. */
async function serverSockets(pid: number): Promise<number> {
  const fds = await readdir(`/proc/${pid}/fd`);
  const targets = await Promise.all(fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => "")));
  return targets.filter((t) => t.startsWith("socket:")).length;
}

/** This process's open descriptors of x11's shared-memory segment files. */
async function sharedSegments(): Promise<string[]> {
  const fds = await readdir("/proc/self/fd");
  const targets = await Promise.all(fds.map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => "")));
  return targets.filter((t) => t.startsWith("/dev/shm/node-x11-shm-"));
}

async function colourOf(image: Buffer): Promise<string> {
  const { data } = await sharp(image).raw().toBuffer({ resolveWithObject: true });
  return `#${data.subarray(0, 3).toString("hex")}`;
}

describe("the screenshot capturer on a real display", () => {
  it("grabs only when something was drawn, encodes only when the pixels changed, and lets go of deleted sandboxes", async () => {
    const { xvfb, authFile, paint } = await startDisplay();
    await paint("#10a050");
    const listeners = new Set<(event: SandboxEvent) => void>();
    let sources = [{ id: "sb1", display: xvfb.display, authFile }];
    const capturer: ScreenshotCapturer = createScreenshotCapturer({
      displays: () => sources,
      onEvent: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      cadence: { watchedMs: 100, idleMs: 100, tickMs: 20 },
    });
    cleanups.push(() => capturer.close());

    const first = await capturer.latest(record("sb1", xvfb.display), { format: "png", maxWidth: 0 });
    expect([first.mimeType, first.width, first.height]).toEqual(["image/png", 640, 400]);
    expect(await colourOf(first.data)).toBe("#10a050");

    // Idle: a capture every 100 ms, none of which grabs (DAMAGE reports nothing drawn).
    await new Promise((resolve) => setTimeout(resolve, 300));
    const idleStart = capturer.stats();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const idleEnd = capturer.stats();
    expect(idleEnd.skipped - idleStart.skipped).toBeGreaterThanOrEqual(5);
    expect(idleEnd.grabs - idleStart.grabs).toBe(0);
    expect(idleEnd.encodes - idleStart.encodes).toBe(0);

    // The same pixels drawn again: grabbed (something was drawn), not encoded (nothing changed).
    await paint("#10a050");
    await waitUntil("a grab after the repaint", () => capturer.stats().grabs > idleEnd.grabs, 5000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(capturer.stats().encodes).toBe(idleEnd.encodes);
    const same = await capturer.latest(record("sb1", xvfb.display), { format: "png", maxWidth: 0 });
    expect(same.capturedAt).toEqual(first.capturedAt);

    // A new colour: a new frame, captured later.
    await paint("#c03020");
    const changed = await waitUntil("the new colour", async () => {
      const shot = await capturer.latest(record("sb1", xvfb.display), { format: "png", maxWidth: 0 });
      return (await colourOf(shot.data)) === "#c03020" ? shot : null;
    });
    expect(changed.capturedAt.getTime()).toBeGreaterThan(first.capturedAt.getTime());
    // One connection all along, its frames through one shared-memory segment.
    expect(capturer.stats().connections).toBe(1);
    expect(await sharedSegments()).toHaveLength(1);
    const withCapturer = await serverSockets(xvfb.pid);

    // Deleted: the frames are gone at once, and so is the connection.
    sources = [];
    for (const listener of listeners) listener({ type: "deleted", id: "sb1" });
    await expect(
      capturer.latest(record("sb1", xvfb.display), { format: "png", maxWidth: 0 }),
    ).rejects.toThrow('sandbox "sb1" has no display to take screenshots of');
    await waitUntil(
      "the X connection closed",
      async () => (await serverSockets(xvfb.pid)) === withCapturer - 1,
      5000,
    );
    // And its shared-memory segment (an unlinked /dev/shm file this process held open).
    expect(await sharedSegments()).toEqual([]);
  });
});
