// A user's whole visit in a real browser (Debian's Chromium through playwright-core) against a real daemon through
// the tunnel, as `claude-remote ui` gives it: the index stays open in one tab while another creates a sandbox with
// the form; the new card appears in the first without a reload; its page shows coloured output in the terminal,
// which resumes after the tunnel drops with every line once; Stop and Delete (each confirmed) act, the page and
// the index follow, and the card leaves the list. The CSP holds throughout (no violation, no page error).
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SandboxStatus } from "../../client/index.js";
import { launchBrowser } from "../helpers/browser.js";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import { startLinesDaemon } from "../helpers/lines-sandbox.js";
import { requires } from "../helpers/requires.js";
import { typeIntoPane } from "../helpers/start-daemon.js";
import { waitUntil } from "../helpers/wait.js";

const missing = requires("chromium");
const fx = useDaemonFixture();
const DISPLAY_BASE = 7330;
const NAME = "journey-<b>x</b>";
// With DASHBOARD_SHOTS_DIR set, the sandbox's page with its coloured terminal is saved there (terminal-page.png).
const SHOTS_DIR = process.env.DASHBOARD_SHOTS_DIR;

let browser: Browser | undefined;
beforeAll(async () => {
  if (!missing) browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

// Page code is given as text: this project's TypeScript has no DOM types.
const text = (page: Page, selector: string): Promise<string> =>
  page.evaluate(`document.querySelector(${JSON.stringify(selector)})?.textContent ?? ""`);
const TERMINAL_ROWS = `[...document.querySelectorAll("#terminal .xterm-rows > div")].map((d) => d.textContent ?? "")`;

async function watched(problems: string[]): Promise<Page> {
  if (browser === undefined) throw new Error("no browser");
  const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
  fx.cleanupLater(() => context.close());
  const page = await context.newPage();
  page.on("console", (m) => {
    if (/content security policy|refused to/i.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  // Stop and Delete ask first; the user says yes.
  page.on("dialog", (dialog) => void dialog.accept());
  return page;
}

describe.skipIf(missing)("a visit to the dashboard", () => {
  it("create with the form, watch it live, survive a dropped tunnel, stop, delete: every page follows", async () => {
    const { daemon, tunnel } = await startLinesDaemon(fx, DISPLAY_BASE);
    const problems: string[] = [];
    const index = await watched(problems);
    await index.goto(`${tunnel.url}/`);
    await waitUntil("the empty list", async () =>
      (await text(index, "#sandbox-list")).includes("No sandboxes yet"),
    );

    // Another tab: the form, with the user's typing.
    const detail = await watched(problems);
    await detail.goto(`${tunnel.url}/new`);
    await detail.fill("#name", NAME);
    await detail.fill("#project_dir", fx.projectDir);
    await Promise.all([
      detail.waitForURL(/\/sandboxes\/[0-9a-f-]{36}$/),
      detail.click("button[type=submit]"),
    ]);
    const id = new URL(detail.url()).pathname.split("/").pop() ?? "";
    const { sandbox } = await daemon.client.getSandbox({ id });
    expect(sandbox?.name).toBe(NAME);

    // The first tab, never reloaded, shows the new card, its name as text.
    await waitUntil("the new card on the index", async () =>
      (await text(index, `[data-sandbox-id="${id}"] .sandbox-name`)).includes(NAME),
    );
    expect(await index.evaluate("document.querySelectorAll('#sandbox-list b').length")).toBe(0);

    // Coloured output in the terminal of the sandbox's page.
    await waitUntil(
      "the terminal to go live",
      async () => (await text(detail, "#terminal-state")) === "live",
    );
    const session = sandbox?.tmuxSession ?? "";
    await typeIntoPane(daemon.stateDir, session, "colors 1 12");
    await waitUntil("line 12 in the terminal", async () =>
      ((await detail.evaluate(TERMINAL_ROWS)) as string[]).some((row) => row.startsWith("line 12 in colour")),
    );
    const coloured = await detail.evaluate(`(() => {
      const span = [...document.querySelectorAll("#terminal .xterm-rows span")]
        .find((s) => s.textContent === "line 7 in colour 31" || s.textContent?.includes("colour 31"));
      return span ? getComputedStyle(span).color : "";
    })()`);
    expect(coloured).not.toBe("");
    expect(coloured).not.toBe(
      await detail.evaluate(`getComputedStyle(document.querySelector("#terminal .xterm-rows")).color`),
    );

    if (SHOTS_DIR !== undefined)
      await detail.screenshot({ path: join(SHOTS_DIR, "terminal-page.png"), fullPage: true });

    // The tunnel drops (a laptop's network blip): the view says so, comes back and misses nothing, repeats nothing.
    tunnel.cut();
    await waitUntil("the terminal to notice", async () =>
      /reconnecting/.test(await text(detail, "#terminal-state")),
    );
    await typeIntoPane(daemon.stateDir, session, "colors 13 20");
    await waitUntil(
      "the terminal live again",
      async () => (await text(detail, "#terminal-state")) === "live",
      30_000,
    );
    await waitUntil("line 20 in the terminal", async () =>
      ((await detail.evaluate(TERMINAL_ROWS)) as string[]).some((row) => row.startsWith("line 20 in colour")),
    );
    const rows = (await detail.evaluate(TERMINAL_ROWS)) as string[];
    for (let n = 1; n <= 20; n++) {
      expect(
        rows.filter((row) => row.startsWith(`line ${n} in colour`)),
        `line ${n}`,
      ).toHaveLength(1);
    }

    // Stop, confirmed: the page and the index say stopped, and the manager agrees.
    await detail.click("button[data-action=stop]");
    await waitUntil("the page to say stopped", async () =>
      (await text(detail, "#sandbox-header .badge")).includes("stopped"),
    );
    await waitUntil("the index to say stopped", async () =>
      (await text(index, `[data-sandbox-id="${id}"] .badge`)).includes("stopped"),
    );
    expect((await daemon.client.getSandbox({ id })).sandbox?.status).toBe(SandboxStatus.STOPPED);

    // Delete, confirmed: back to the index, and the card is gone from both tabs.
    await Promise.all([detail.waitForURL(`${tunnel.url}/`), detail.click("button[data-action=delete]")]);
    await waitUntil(
      "the card to leave the index",
      async () =>
        (await index.evaluate(`document.querySelector('[data-sandbox-id="${id}"]') === null`)) === true,
    );
    expect(await text(detail, "#sandbox-list")).toContain("No sandboxes yet");
    expect((await daemon.client.listSandboxes({})).sandboxes).toEqual([]);
    expect(problems).toEqual([]);
  }, 120_000);
});
