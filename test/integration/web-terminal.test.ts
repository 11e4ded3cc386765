// web/public/terminal.js in a real browser (Debian's Chromium, headless, through playwright-core) against a real
// daemon through a tunnel: coloured log lines show up in the xterm view under the gateway's own CSP, and after
// the tunnel drops the view reconnects and resumes so that no line is shown twice or lost.
// The detail page is the pages' business; this test puts the terminal's markup into a page the gateway served,
// so terminal.js and the vendor modules it imports run under the gateway's CSP, and nothing else does.

import { mkdir, truncate } from "node:fs/promises";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser } from "../helpers/browser.js";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import { createLinesSandbox, startLinesDaemon } from "../helpers/lines-sandbox.js";
import { requires } from "../helpers/requires.js";
import { waitUntil } from "../helpers/wait.js";

const fx = useDaemonFixture();
const DISPLAY_BASE = 7610;
// Where the screenshot of the coloured terminal goes, when set (SHOTS_DIR=/work/coord/shots).
const SHOTS_DIR = process.env.SHOTS_DIR;

// The terminal's markup as the detail page has it, put into a page the gateway served (so under its CSP and
// from its origin); rows enough that every line of the test stays on screen, where the DOM renderer draws it.
// terminal.js is loaded by a script element like the page's own, which the CSP allows as it is from 'self'.
function mountTerminalPage(
  id: string,
  maxPending?: number,
  box = "width:1360px;overflow:auto",
  rows = 120,
): string {
  return `(() => {
    document.head.innerHTML = '<meta charset="utf-8"><title>terminal</title>' +
      '<link rel="stylesheet" href="/static/vendor/xterm.css">' +
      '<style>body{background:#010409;color:#c9d1d9;font:14px system-ui;margin:16px}' +
      '#terminal{${box}}</style>';
    document.body.innerHTML = '<p>log <span id="terminal-state"></span></p>' +
      '<div id="terminal" data-sandbox-id=${JSON.stringify(id)} data-rows="${rows}"${maxPending === undefined ? "" : ` data-max-pending="${maxPending}"`}></div>';
    const script = document.createElement("script");
    script.type = "module";
    script.src = "/static/terminal.js";
    document.head.append(script);
  })()`;
}

let browser: Browser | undefined;
beforeAll(async () => {
  if (requires("chromium") !== false) return;
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

// Code run in the page is given as text: this project's TypeScript has no DOM types.
const STATE = `(document.getElementById("terminal-state")?.textContent ?? "")`;
const SCREEN = `(document.querySelector(".xterm-rows")?.textContent ?? "")`;

/** The xterm view's rows, as text. */
async function rows(page: Page): Promise<string[]> {
  return page.evaluate(
    `[...document.querySelectorAll(".xterm-rows > div")].map((d) => (d.textContent ?? "").replace(/\\s+$/, ""))`,
  );
}

// Polled from here: waitForFunction's string form evaluates in the page, which the CSP refuses.
async function waitForState(page: Page, pattern: RegExp): Promise<void> {
  await waitUntil(`the terminal state to match ${pattern}`, async () =>
    pattern.test(await page.evaluate<string>(STATE)),
  );
}

async function waitForScreen(page: Page, text: string, timeoutMs = 15_000): Promise<void> {
  await waitUntil(
    `${JSON.stringify(text)} in the terminal`,
    async () => (await page.evaluate<string>(SCREEN)).includes(text),
    timeoutMs,
  );
}

async function openTerminal(
  baseUrl: string,
  id: string,
  options: { maxPending?: number; box?: string; rows?: number } = {},
) {
  if (browser === undefined) throw new Error("no browser");
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  // A page of the gateway's own (its 404 page: the detail page is not this worktree's), with its CSP.
  const served = await page.goto(`${baseUrl}/no-such-page`);
  expect(served?.headers()["content-security-policy"]).toContain("script-src 'self'");
  const problems: string[] = [];
  page.on("console", (message) => {
    const text = message.text();
    // Failed loads are told by their responses below, with their URLs (the browser asks for /favicon.ico).
    if (text.startsWith("Failed to load resource")) return;
    if (message.type() === "error" || message.type() === "warning") problems.push(text);
  });
  page.on("pageerror", (error) => problems.push(error.message));
  page.on("response", (response) => {
    const { pathname } = new URL(response.url());
    if (response.status() >= 400 && pathname !== "/favicon.ico" && pathname !== "/no-such-page")
      problems.push(`${response.status()} ${response.url()}`);
  });
  const sockets: string[] = [];
  page.on("websocket", (ws) => sockets.push(ws.url()));
  await page.evaluate(mountTerminalPage(id, options.maxPending, options.box, options.rows));
  return { page, problems, sockets };
}

describe.skipIf(requires("chromium"))("the terminal view in a browser", () => {
  it("shows coloured log lines and redrawn lines as a terminal does, under the gateway's CSP", async () => {
    const { daemon, tunnel } = await startLinesDaemon(fx, DISPLAY_BASE);
    const sandbox = await createLinesSandbox(daemon, fx.projectDir);
    await sandbox.run("colors 1 24");
    const { page, problems } = await openTerminal(tunnel.url, sandbox.id);
    await waitForState(page, /^live$/);
    await waitForScreen(page, "line 24 in");
    // Live output follows the backlog.
    await sandbox.type("colors 25 36");
    await waitForScreen(page, "line 36 in");

    // Each line's colour (SGR 31-36) is drawn as that colour, its number bold.
    const coloured: { fg: string; colour: string; next: string }[] = await page.evaluate(`
      [...document.querySelectorAll(".xterm-rows span")]
        .filter((s) => s.textContent === "line ")
        .map((s) => ({
          fg: [...s.classList].find((c) => c.startsWith("xterm-fg-")),
          colour: getComputedStyle(s).color,
          next: s.nextElementSibling?.className ?? "",
        }))`);
    expect(coloured.length).toBeGreaterThanOrEqual(36);
    expect(new Set(coloured.map((c) => c.fg))).toEqual(
      new Set(["xterm-fg-1", "xterm-fg-2", "xterm-fg-3", "xterm-fg-4", "xterm-fg-5", "xterm-fg-6"]),
    );
    expect(new Set(coloured.map((c) => c.colour)).size).toBe(6);
    expect(coloured.every((c) => c.next.includes("xterm-bold"))).toBe(true);
    const text = await rows(page);
    for (let n = 1; n <= 36; n++) {
      expect(text.filter((row) => row === `line ${n} in colour ${31 + (n % 6)}`)).toHaveLength(1);
    }
    // Drawn as a terminal draws it: UTF-8 line drawing, and lines redrawn in place leave only their last state.
    await sandbox.type("tui");
    await waitForScreen(page, "fixture-done tui");
    const tui = await rows(page);
    for (const row of ["╭─ claude ─╮", "│ > hi     │", "╰──────────╯", "working: done", "status: ok"]) {
      expect(tui, row).toContain(row);
    }
    expect(tui.filter((row) => /working: \d|pending/.test(row))).toEqual([]);
    // Nothing was refused by the CSP or failed in the page.
    expect(problems).toEqual([]);
    if (SHOTS_DIR !== undefined) {
      await mkdir(SHOTS_DIR, { recursive: true });
      await page.screenshot({ path: join(SHOTS_DIR, "terminal.png") });
    }
  });

  it("draws the pane's 200x50 inside a box of fixed size, as the detail page has it", async () => {
    const { daemon, tunnel } = await startLinesDaemon(fx, DISPLAY_BASE);
    const sandbox = await createLinesSandbox(daemon, fx.projectDir);
    await sandbox.run("lines 1 60");
    const box = "width:1200px;height:560px;padding:6px;box-sizing:border-box;overflow:hidden";
    const { page } = await openTerminal(tunnel.url, sandbox.id, { box, rows: 50 });
    await waitForScreen(page, "fixture-done lines 1 60");
    const size: { rows: number; width: number; height: number } = await page.evaluate(`(() => {
      const screen = document.querySelector(".xterm-screen").getBoundingClientRect();
      const rows = document.querySelectorAll(".xterm-rows > div");
      return { rows: rows.length, width: screen.width, height: screen.height };
    })()`);
    expect(size.rows).toBe(50);
    expect(size.width).toBeLessThanOrEqual(1200 - 12);
    expect(size.height).toBeLessThanOrEqual(560 - 12);
    // The box is filled, not left mostly empty by a font far smaller than needed.
    expect(size.height).toBeGreaterThan((560 - 12) * 0.85);
    const text = await rows(page);
    expect(text.filter((row) => row !== "").at(-1)).toBe("fixture-done lines 1 60");
  });

  it("clears the view when the log is truncated, and shows the new log", async () => {
    const { daemon, tunnel } = await startLinesDaemon(fx, DISPLAY_BASE);
    const sandbox = await createLinesSandbox(daemon, fx.projectDir);
    await sandbox.run("lines 1 10");
    const { page, problems } = await openTerminal(tunnel.url, sandbox.id);
    await waitForScreen(page, "fixture-done lines 1 10");
    await truncate(join(daemon.stateDir, "logs", `${sandbox.id}.log`), 0);
    await sandbox.run("lines 11 12");
    await waitForScreen(page, "fixture-done lines 11 12");
    const text = (await rows(page)).filter((row) => row !== "");
    expect(text).toEqual(["lines 11 12", "line 11", "line 12", "fixture-done lines 11 12"]);
    expect(problems).toEqual([]);
  });

  it("lets its socket go during a flood it cannot draw as fast, resumes from where it was, and shows every later line once", async () => {
    const { daemon, tunnel } = await startLinesDaemon(fx, DISPLAY_BASE);
    const sandbox = await createLinesSandbox(daemon, fx.projectDir);
    // A small bound on what may wait to be drawn, as on a slow machine: the flood crosses it again and again.
    const { page, problems, sockets } = await openTerminal(tunnel.url, sandbox.id, { maxPending: 64 * 1024 });
    await waitForState(page, /^live$/);
    const flood = 12 * 1024 * 1024;
    await sandbox.run(`flood ${flood}`, 60_000);
    await sandbox.run("lines 1 60");
    await waitForScreen(page, "fixture-done lines 1 60", 60_000);
    const text = await rows(page);
    for (let n = 1; n <= 60; n++)
      expect(
        text.filter((row) => row === `line ${n}`),
        `line ${n}`,
      ).toHaveLength(1);
    expect(text.filter((row) => row === "fixture-flood-done")).toHaveLength(1);
    // It let its socket go to catch up, and resumed where it was.
    expect(sockets.length).toBeGreaterThan(1);
    for (const url of sockets.slice(1)) expect(new URL(url).searchParams.get("from")).toMatch(/^\d+$/);
    expect(problems).toEqual([]);
  });

  it("reconnects after the tunnel drops and shows every line exactly once", async () => {
    const { daemon, tunnel } = await startLinesDaemon(fx, DISPLAY_BASE);
    const sandbox = await createLinesSandbox(daemon, fx.projectDir);
    const { page, problems, sockets } = await openTerminal(tunnel.url, sandbox.id);
    await waitForState(page, /^live$/);
    await sandbox.type("ticks 1 80 40");
    await waitForScreen(page, "line 20");
    tunnel.cut();
    await waitForState(page, /^reconnecting in \ds$/);
    await waitForState(page, /^live$/);
    await waitForScreen(page, "fixture-done ticks 1 80 40", 30_000);
    const text = await rows(page);
    for (let n = 1; n <= 80; n++)
      expect(
        text.filter((row) => row === `line ${n}`),
        `line ${n}`,
      ).toHaveLength(1);
    expect(text.filter((row) => row === "fixture-lines ready")).toHaveLength(1);
    // The second socket resumed where the first stopped.
    expect(sockets).toHaveLength(2);
    expect(new URL(sockets[1] ?? "").searchParams.get("from")).toMatch(/^\d+$/);
    // The page reports the dropped socket itself as an error; nothing else went wrong.
    expect(problems.filter((p) => !p.includes("WebSocket"))).toEqual([]);
  });
});
