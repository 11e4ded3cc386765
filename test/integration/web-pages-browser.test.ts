// The dashboard in a real browser (Debian's Chromium, headless, through playwright-core) against a real daemon
// through the tunnel: the list follows the manager without a reload, names render as text, the CSP holds with
// htmx and its SSE extension running, and the form shows its errors where they belong. With
// DASHBOARD_SHOTS_DIR set, it saves what it sees there (index.png, detail.png, new-error.png).
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SandboxStatus } from "../../client/index.js";
import { launchBrowser } from "../helpers/browser.js";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import { requires } from "../helpers/requires.js";
import { type Daemon, typeIntoPane } from "../helpers/start-daemon.js";
import { waitUntil } from "../helpers/wait.js";
import { createNamed, startWebDaemon } from "../helpers/web-daemon.js";

const missing = requires("chromium");
const fx = useDaemonFixture();
const XSS_NAME = "<img src=x onerror=alert(1)>";
const SHOTS_DIR = process.env.DASHBOARD_SHOTS_DIR;

let browser: Browser | undefined;
beforeAll(async () => {
  if (missing) return;
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

const startGateway = () => startWebDaemon(fx, { MANAGER_DISPLAY_BASE: "7500" });
const create = (daemon: Daemon, name: string, extra: { network?: boolean; shell?: boolean } = {}) =>
  createNamed(daemon, fx.projectDir, name, extra);

interface Watched {
  page: Page;
  /** Console messages about the Content-Security-Policy, uncaught page errors and dialogs: all must stay empty. */
  problems: string[];
}

async function openPage(url: string): Promise<Watched> {
  if (browser === undefined) throw new Error("no browser");
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  fx.cleanupLater(() => context.close());
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("console", (message) => {
    if (/content security policy|refused to/i.test(message.text()))
      problems.push(`console: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("dialog", (dialog) => {
    problems.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  await page.goto(url);
  return { page, problems };
}

async function shot(page: Page, name: string): Promise<void> {
  if (SHOTS_DIR === undefined) return;
  await page.screenshot({ path: join(SHOTS_DIR, name), fullPage: true });
}

describe.skipIf(missing)("the dashboard in Chromium", () => {
  it("the index follows the manager without a reload, shows names as text and keeps to the CSP", async () => {
    const { daemon, base } = await startGateway();
    await create(daemon, "refactor-auth");
    const dead = await create(daemon, "flaky-tests", { shell: true });
    await typeIntoPane(daemon.stateDir, dead.tmuxSession ?? "", "exit 3");
    const stopped = await create(daemon, "docs-site", { network: false });
    await daemon.client.stopSandbox({ id: stopped.id });
    await create(daemon, XSS_NAME);
    await waitUntil(
      "the shell sandbox to be dead",
      async () => (await daemon.client.getSandbox({ id: dead.id })).sandbox?.status === SandboxStatus.DEAD,
    );

    const { page, problems } = await openPage(`${base}/`);
    await page.locator(".sandbox-card").nth(3).waitFor();
    expect(await page.locator(".sandbox-card").count()).toBe(4);
    await page.locator("#live-state.is-live").waitFor();
    // Set on this document: still there later means the page was never reloaded.
    await page.evaluate(() => {
      (globalThis as unknown as { marker: string }).marker = "same document";
    });

    const added = await create(daemon, "new-feature-x");
    await page.locator(`.sandbox-card[data-sandbox-id="${added.id}"]`).waitFor({ timeout: 10_000 });
    expect(await page.locator(".sandbox-card").count()).toBe(5);
    // Newest first.
    expect(await page.locator(".sandbox-card").first().getAttribute("data-sandbox-id")).toBe(added.id);
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: string }).marker)).toBe(
      "same document",
    );

    // The hostile name is text: no image element came of it, and its link reads as typed.
    expect(await page.locator('img[src="x"]').count()).toBe(0);
    expect(await page.locator(".sandbox-name", { hasText: XSS_NAME }).count()).toBe(1);
    expect(await page.locator(".sandbox-card .badge-dead").count()).toBe(1);
    expect(await page.locator(".sandbox-card .badge-stopped").count()).toBe(1);
    expect(await page.locator(".sandbox-card .badge-running").count()).toBe(3);
    await shot(page, "index.png");

    await daemon.client.deleteSandbox({ id: added.id });
    await page.locator(`.sandbox-card[data-sandbox-id="${added.id}"]`).waitFor({ state: "detached" });
    expect(await page.locator(".sandbox-card").count()).toBe(4);
    expect(problems).toEqual([]);
  });

  it("the sandbox page updates its facts as the sandbox stops, and says so once it is deleted", async () => {
    const { daemon, base } = await startGateway();
    const sandbox = await create(daemon, "payments-migration");
    const { page, problems } = await openPage(`${base}/sandboxes/${sandbox.id}`);
    await page.locator("#live-state.is-live").waitFor();
    await page.evaluate(() => {
      (globalThis as unknown as { marker: string }).marker = "same document";
    });
    expect(await page.locator("#sandbox-header .badge-running").count()).toBe(1);
    expect(await page.locator('#sandbox-header [data-action="stop"]').count()).toBe(1);
    await shot(page, "detail.png");

    await daemon.client.stopSandbox({ id: sandbox.id });
    await page.locator("#sandbox-header .badge-stopped").waitFor();
    await page.locator("#sandbox-facts dt", { hasText: "Stopped" }).waitFor();
    expect(await page.locator('#sandbox-header [data-action="stop"]').count()).toBe(0);

    await daemon.client.deleteSandbox({ id: sandbox.id });
    await page.locator(".notice-deleted").waitFor();
    await page.locator("#live-state", { hasText: "ended" }).waitFor();
    expect(await page.locator('#sandbox-header [data-action="delete"]').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: string }).marker)).toBe(
      "same document",
    );
    expect(problems).toEqual([]);
  });

  it("the form shows the manager's refusal next to the field, then creates the sandbox and opens its page", async () => {
    const { daemon, base } = await startGateway();
    const { page, problems } = await openPage(`${base}/new`);
    await page.fill("#name", "search-indexer");
    await page.fill("#project_dir", join(fx.projectDir, "does-not-exist"));
    await page.click('button[type="submit"]');
    await page.locator("#project_dir-error").waitFor();
    expect(await page.inputValue("#name")).toBe("search-indexer");
    expect(await page.locator(".field.has-error").count()).toBe(1);
    expect(await page.locator(".field.has-error #project_dir").count()).toBe(1);
    await shot(page, "new-error.png");
    expect((await daemon.client.listSandboxes({})).sandboxes).toEqual([]);

    await page.fill("#project_dir", fx.projectDir);
    await page.uncheck('input[name="network"]');
    await page.click('button[type="submit"]');
    await page.waitForURL(/\/sandboxes\/[0-9a-f-]{36}$/);
    expect(await page.locator("h1").textContent()).toBe("search-indexer");
    const [created] = (await daemon.client.listSandboxes({})).sandboxes;
    expect(created).toMatchObject({ name: "search-indexer", network: false, projectDir: fx.projectDir });
    expect(page.url()).toBe(`${base}/sandboxes/${created?.id}`);
    expect(problems).toEqual([]);
  });
});
