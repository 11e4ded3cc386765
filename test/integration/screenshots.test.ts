// Screenshots of a real sandbox's display through the real daemon: the fixture launcher paints its Xvfb display
// (xsetroot, as any X program inside would draw), and GetScreenshot and the REST endpoint show what it drew.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import {
  Backend,
  type GetScreenshotResponse,
  type SandboxClient,
  ScreenshotFormat,
  type WatchScreenshotsResponse,
} from "../../client/index.js";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import { stopDaemon, typeIntoPane } from "../helpers/start-daemon.js";
import { collect } from "../helpers/stream-collector.js";
import { waitUntil } from "../helpers/wait.js";

const fx = useDaemonFixture();
const DISPLAY_BASE = process.env.MANAGER_DISPLAY_BASE ?? "7900";
const WIDTH = 1280;
const HEIGHT = 800;

/** The colour of every pixel of an image, or null if it is not one colour (RGB hex). */
async function uniformColour(image: Uint8Array): Promise<string | null> {
  const { data, info } = await sharp(image).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const first = data.subarray(0, 3);
  for (let i = 0; i < info.width * info.height * 3; i += 3) {
    if (data[i] !== first[0] || data[i + 1] !== first[1] || data[i + 2] !== first[2]) return null;
  }
  return `#${Buffer.from(first).toString("hex")}`;
}

async function rejection(call: () => Promise<unknown>): Promise<ConnectError> {
  try {
    await call();
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("the call succeeded");
}

/** Asks until the PNG shows `colour` everywhere; returns that answer. */
async function waitForColour(
  client: SandboxClient,
  id: string,
  colour: string,
): Promise<GetScreenshotResponse> {
  return waitUntil(
    `a screenshot showing ${colour}`,
    async () => {
      const shot = await client.getScreenshot({ id }).catch(() => null);
      return shot !== null && (await uniformColour(shot.image)) === colour ? shot : null;
    },
    15_000,
    200,
  );
}

const capturedAt = (shot: GetScreenshotResponse | WatchScreenshotsResponse): number =>
  shot.capturedAt === undefined ? 0 : timestampDate(shot.capturedAt).getTime();

describe("screenshots of an Xvfb sandbox", () => {
  it("show what the display shows, change when it changes, and go with the sandbox", async () => {
    const daemon = await fx.start({
      transport: "tcp",
      env: { MANAGER_DISPLAY_BASE: DISPLAY_BASE, MANAGER_SCREEN: `${WIDTH}x${HEIGHT}x24` },
    });
    const { client } = daemon;

    const unknown = await rejection(() => client.getScreenshot({ id: "no-such-sandbox" }));
    expect(unknown.code).toBe(Code.NotFound);
    expect(unknown.rawMessage).toBe('sandbox "no-such-sandbox" not found');

    const { sandbox } = await client.createSandbox({
      name: "painted",
      backend: Backend.BUBBLEWRAP,
      projectDir: fx.projectDir,
    });
    const id = sandbox?.id ?? "";
    const session = sandbox?.tmuxSession ?? "";
    await waitUntil("the fixture's first lines", async () =>
      Buffer.from((await client.getLogs({ id })).data)
        .toString()
        .includes("fixture-launcher DISPLAY="),
    );

    await typeIntoPane(daemon.stateDir, session, "paint #ff8000");
    const orange = await waitForColour(client, id, "#ff8000");
    expect(orange.mimeType).toBe("image/png");
    const meta = await sharp(orange.image).metadata();
    expect({ format: meta.format, width: meta.width, height: meta.height }).toEqual({
      format: "png",
      width: WIDTH,
      height: HEIGHT,
    });
    expect({ width: orange.width, height: orange.height }).toEqual({ width: WIDTH, height: HEIGHT });
    const firstAt = capturedAt(orange);
    expect(Math.abs(Date.now() - firstAt)).toBeLessThan(20_000);

    // Nothing changes on the display: captures go on (the display is watched, so every 2 s), but the frame
    // answered stays the one encoded when the content appeared.
    for (let i = 0; i < 5; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const same = await client.getScreenshot({ id });
      expect(capturedAt(same)).toBe(firstAt);
      expect(Buffer.from(same.image).equals(Buffer.from(orange.image))).toBe(true);
    }

    // The REST endpoint serves the same PNG, never to be cached.
    const rest = await fetch(`${daemon.address}/api/sandboxes/${id}/screenshot`, {
      headers: { authorization: `Bearer ${daemon.token}` },
    });
    expect(rest.status).toBe(200);
    expect(rest.headers.get("content-type")).toBe("image/png");
    expect(rest.headers.get("cache-control")).toBe("no-store");
    expect(await uniformColour(new Uint8Array(await rest.arrayBuffer()))).toBe("#ff8000");
    // The dashboard's thumbnails ask for a small JPEG.
    const restThumb = await fetch(
      `${daemon.address}/api/sandboxes/${id}/screenshot?format=jpeg&max_width=320`,
      {
        headers: { authorization: `Bearer ${daemon.token}` },
      },
    );
    expect([restThumb.status, restThumb.headers.get("content-type")]).toEqual([200, "image/jpeg"]);
    expect((await sharp(new Uint8Array(await restThumb.arrayBuffer())).metadata()).width).toBe(320);
    for (const [query, field] of [
      ["format=gif", "format"],
      ["max_width=wide", "max_width"],
      ["max_width=100000", "max_width"],
    ]) {
      const bad = await fetch(`${daemon.address}/api/sandboxes/${id}/screenshot?${query}`, {
        headers: { authorization: `Bearer ${daemon.token}` },
      });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: string }).error).toMatch(new RegExp(`^${field}: `));
    }

    // Thumbnails: scaled down to the width asked, in the format asked.
    for (const [format, mimeType, sharpFormat] of [
      [ScreenshotFormat.JPEG, "image/jpeg", "jpeg"],
      [ScreenshotFormat.WEBP, "image/webp", "webp"],
    ] as const) {
      const thumb = await client.getScreenshot({ id, format, maxWidth: 320 });
      expect({ mimeType: thumb.mimeType, width: thumb.width, height: thumb.height }).toEqual({
        mimeType,
        width: 320,
        height: 200,
      });
      const thumbMeta = await sharp(thumb.image).metadata();
      expect({ format: thumbMeta.format, width: thumbMeta.width }).toEqual({
        format: sharpFormat,
        width: 320,
      });
    }

    // A watcher gets the frame it has at once, then the next one when the display changes.
    const watch = collect<WatchScreenshotsResponse>(
      client.watchScreenshots({ id }, { signal: fx.abortLater() }),
    );
    await watch.waitFor("the current frame", () => watch.items.length >= 1);
    expect(capturedAt(watch.items[0] as WatchScreenshotsResponse)).toBe(firstAt);

    // The display changes: a new frame with a later capture time comes within the watched cadence.
    const paintedAt = Date.now();
    await typeIntoPane(daemon.stateDir, session, "paint #2040c0");
    const blue = await waitForColour(client, id, "#2040c0");
    expect(capturedAt(blue)).toBeGreaterThan(firstAt);
    expect(Date.now() - paintedAt).toBeLessThan(6000);
    await watch.waitFor("the new frame on the watch", () => watch.items.length >= 2);
    expect(watch.items).toHaveLength(2);
    const watched = watch.items[1] as WatchScreenshotsResponse;
    expect(await uniformColour(watched.image)).toBe("#2040c0");
    expect(capturedAt(watched)).toBe(capturedAt(blue));
    const blueThumb = await client.getScreenshot({ id, format: ScreenshotFormat.JPEG, maxWidth: 320 });
    expect(capturedAt(blueThumb)).toBe(capturedAt(blue));

    // Bad requests name the field.
    const wide = await rejection(() => client.getScreenshot({ id, maxWidth: 100_000 }));
    expect(wide.code).toBe(Code.InvalidArgument);
    expect(wide.rawMessage).toMatch(/^max_width: /);
    const format = await rejection(() => client.getScreenshot({ id, format: 42 as ScreenshotFormat }));
    expect(format.code).toBe(Code.InvalidArgument);
    expect(format.rawMessage).toMatch(/^format: unknown value 42/);

    await client.stopSandbox({ id });
    // The watch ends with the display.
    await watch.done;
    expect(watch.items).toHaveLength(2);
    const stopped = await rejection(() => client.getScreenshot({ id }));
    expect(stopped.code).toBe(Code.NotFound);
    expect(stopped.rawMessage).toBe(
      `sandbox "${id}" is stopped: screenshots exist only while its display runs`,
    );

    await client.deleteSandbox({ id });
    const deleted = await rejection(() => client.getScreenshot({ id }));
    expect(deleted.code).toBe(Code.NotFound);
    expect(deleted.rawMessage).toBe(`sandbox "${id}" not found`);
    const restGone = await fetch(`${daemon.address}/api/sandboxes/${id}/screenshot`, {
      headers: { authorization: `Bearer ${daemon.token}` },
    });
    expect(restGone.status).toBe(404);
  });

  it("a daemon shut down with a display open exits cleanly, and the next one captures the adopted display", async () => {
    const env = {
      MANAGER_DISPLAY_BASE: String(Number(DISPLAY_BASE) + 10),
      MANAGER_SCREEN: `${WIDTH}x${HEIGHT}x24`,
    };
    const first = await fx.start({ env });
    const { sandbox } = await first.client.createSandbox({
      name: "adopted",
      backend: Backend.BUBBLEWRAP,
      projectDir: fx.projectDir,
    });
    const id = sandbox?.id ?? "";
    await typeIntoPane(first.stateDir, sandbox?.tmuxSession ?? "", "paint #30c0a0");
    await waitForColour(first.client, id, "#30c0a0");

    const watch = collect<WatchScreenshotsResponse>(
      first.client.watchScreenshots({ id }, { signal: fx.abortLater() }),
    );
    await watch.waitFor("the current frame", () => true);

    const startedAt = Date.now();
    expect(await stopDaemon(first, "SIGTERM")).toEqual({ code: 0, signal: null });
    // An open watch is told the manager is going away.
    await watch.done.catch(() => {});
    expect(watch.error?.code).toBe(Code.Unavailable);
    // The open X connection and the capture timer hold nothing up.
    expect(Date.now() - startedAt).toBeLessThan(5000);
    expect(first.stderr()).not.toMatch(/screenshots:|unexpected error/);

    const second = await fx.start({ env });
    const shot = await waitForColour(second.client, id, "#30c0a0");
    expect(shot.width).toBe(WIDTH);
  });
});
