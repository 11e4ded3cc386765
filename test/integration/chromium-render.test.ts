import { chown, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { execa } from "execa";
import { afterEach, describe, expect, test } from "vitest";
import { requires } from "../helpers/requires.js";
import { createSandboxFixture, type SandboxFixture } from "../helpers/sandbox-home.js";
import { closeAll, type HostResource } from "../helpers/sandbox-host.js";
import { describeRun, findProcesses, killStragglers, runLauncher } from "../helpers/sandbox-launcher.js";
import { ensureTestUser, ROOT, type SandboxUser } from "../helpers/sandbox-user.js";
import { startXvfb, type XDisplay } from "../helpers/sandbox-xvfb.js";
import { holdsWithin } from "../helpers/wait.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root", "userns", "chromium");

// Chromium inside a real sandbox, started through the sandbox's `chromium` wrapper, draws a local page on the
// sandbox's Xvfb display; a screenshot taken from the host shows the page's colours. Two sandboxes' browsers
// run side by side with their own profiles (no singleton hand-off), and --stop ends the browser too.

const WIDTH = 800;
const HEIGHT = 600;
const PAGE_A = ["#ff0000", "#00ff00", "#0000ff", "#ffff00"];
const PAGE_B = ["#ff00ff", "#00ffff", "#ff8000", "#8000ff"];

const users: [string, () => SandboxUser][] = [
  ["unprivileged user", ensureTestUser],
  ["root", () => ROOT],
];

let fx: SandboxFixture | undefined;
const resources: HostResource[] = [];
afterEach(async () => {
  if (fx) await killStragglers(fx.root);
  await closeAll(resources.splice(0));
  await fx?.cleanup();
  fx = undefined;
});

function rgb(hex: string): string {
  const n = Number.parseInt(hex.slice(1), 16);
  return `srgb(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255})`;
}

/** A page of four big blocks, one colour per quadrant. */
async function writePage(f: SandboxFixture, dir: string, colours: string[]): Promise<string> {
  await mkdir(dir, { recursive: true });
  const blocks = colours.map((c) => `<div style="background:${c}"></div>`).join("");
  const page = path.join(dir, "blocks.html");
  await writeFile(
    page,
    `<!doctype html><html><body style="margin:0"><div style="display:grid;grid-template-columns:1fr 1fr;grid-template-rows:1fr 1fr;width:100vw;height:100vh">${blocks}</div></body></html>\n`,
  );
  await chown(dir, f.owner.uid, f.owner.gid);
  await chown(page, f.owner.uid, f.owner.gid);
  return page;
}

/** Quadrant-centre pixels and the number of distinct colours of a screenshot of the whole display. */
async function screenshot(x: XDisplay, file: string): Promise<{ centres: string[]; colours: number }> {
  await execa("import", ["-window", "root", "-display", x.display, `png:${file}`], {
    env: { XAUTHORITY: x.xauthority },
  });
  const points = [
    [WIDTH / 4, HEIGHT / 4],
    [(3 * WIDTH) / 4, HEIGHT / 4],
    [WIDTH / 4, (3 * HEIGHT) / 4],
    [(3 * WIDTH) / 4, (3 * HEIGHT) / 4],
  ];
  const format = `${points.map(([px, py]) => `%[pixel:p{${px},${py}}]`).join(" ")} %k`;
  const { stdout } = await execa("convert", [file, "-format", format, "info:"]);
  const parts = stdout.trim().split(" ");
  return { centres: parts.slice(0, 4), colours: Number(parts[4]) };
}

/** Screenshots until the page's colours show (Chromium takes seconds to start); returns the last one. */
async function waitForPage(x: XDisplay, file: string, colours: string[], browser: Browser) {
  let last = { centres: [] as string[], colours: 0 };
  await holdsWithin(
    async () => {
      last = await screenshot(x, file);
      // A browser that already exited will not draw anything: stop waiting and let the test show why.
      return last.centres.join(" ") === colours.map(rgb).join(" ") || browser.ended;
    },
    40_000,
    500,
  );
  return last;
}

interface Browser {
  run: ReturnType<typeof runLauncher>;
  ended: boolean;
}

function launchChromium(f: SandboxFixture, project: string, x: XDisplay, page: string): Browser {
  const flags = [
    "--no-first-run",
    "--no-default-browser-check",
    "--kiosk",
    "--window-position=0,0",
    `--window-size=${WIDTH},${HEIGHT}`,
  ];
  const run = runLauncher(
    f,
    ["--no-network", "--shell", project, "--", "-c", 'exec chromium "$@"', "sh", ...flags, `file://${page}`],
    { env: { DISPLAY: x.display, XAUTHORITY: x.xauthority }, timeoutMs: 100_000 },
  );
  const browser: Browser = { run, ended: false };
  void run.then(() => {
    browser.ended = true;
  });
  return browser;
}

async function chromiumProfiles(needle: string): Promise<Set<string>> {
  const profiles = new Set<string>();
  for (const p of await findProcesses(needle)) {
    const m = /--user-data-dir=(\S+)/.exec(p.cmdline);
    if (m?.[1] && /chromium/.test(p.cmdline)) profiles.add(m[1]);
  }
  return profiles;
}

describe.skipIf(missing).each(users)("Chromium in a sandbox, as %s", (_label, user) => {
  test("renders a local page on the sandbox's display; --stop ends the browser", async () => {
    fx = await createSandboxFixture(user());
    const f = fx;
    const x = await startXvfb(f.owner, f.outside, `${WIDTH}x${HEIGHT}x24`);
    resources.push({ close: x.stop });
    const page = await writePage(f, path.join(f.project, "site"), PAGE_A);
    const browser = launchChromium(f, f.project, x, page);
    const shot = path.join(f.outside, "screenshot.png");
    const seen = await waitForPage(x, shot, PAGE_A, browser);
    if (seen.centres.join(" ") !== PAGE_A.map(rgb).join(" ")) {
      await runLauncher(f, ["--stop", f.project]);
      expect.fail(
        `the page never showed: centres ${seen.centres.join(" ")}\n${describeRun(await browser.run)}`,
      );
    }
    expect(seen.colours, "a rendered page has its four colours").toBeGreaterThanOrEqual(4);

    const stop = await runLauncher(f, ["--stop", f.project]);
    expect(stop.exitCode, describeRun(stop)).toBe(0);
    const gone = await holdsWithin(async () => (await chromiumProfiles(f.root)).size === 0, 15_000);
    expect(gone, "Chromium still runs after --stop").toBe(true);
    await browser.run;
  });

  test("two sandboxes' browsers run side by side with their own profiles", async () => {
    fx = await createSandboxFixture(user());
    const f = fx;
    const projectB = path.join(f.root, "project-b");
    await mkdir(projectB);
    await chown(projectB, f.owner.uid, f.owner.gid);
    const xa = await startXvfb(f.owner, f.outside, `${WIDTH}x${HEIGHT}x24`);
    resources.push({ close: xa.stop });
    const xb = await startXvfb(f.owner, f.outside, `${WIDTH}x${HEIGHT}x24`);
    resources.push({ close: xb.stop });
    // B starts while A runs: the moment a shared profile or D-Bus singleton would hand B's URL to A and exit.
    // (Concurrent first launches racing on the state dir are escape-lifecycle's concern.)
    const browserA = launchChromium(
      f,
      f.project,
      xa,
      await writePage(f, path.join(f.project, "site"), PAGE_A),
    );
    const a = await waitForPage(xa, path.join(f.outside, "a.png"), PAGE_A, browserA);
    const browserB = launchChromium(f, projectB, xb, await writePage(f, path.join(projectB, "site"), PAGE_B));
    const browsers = [browserA, browserB];
    const b = await waitForPage(xb, path.join(f.outside, "b.png"), PAGE_B, browserB);
    const why = async (br: Browser) => (br.ended ? describeRun(await br.run) : "still running");
    expect.soft(a.centres, `sandbox A's display; browser: ${await why(browserA)}`).toEqual(PAGE_A.map(rgb));
    expect
      .soft(
        b.centres,
        `sandbox B's display (a hand-off to A would leave it blank); browser: ${await why(browserB)}`,
      )
      .toEqual(PAGE_B.map(rgb));
    expect.soft(browserA.ended, "A's browser must still run after B started").toBe(false);
    const profiles = await chromiumProfiles(f.root);
    expect.soft(profiles.size, `profiles in use: ${[...profiles].join(", ")}`).toBe(2);
    for (const p of [f.project, projectB]) {
      const r = await runLauncher(f, ["--stop", p]);
      expect.soft(r.exitCode, describeRun(r)).toBe(0);
    }
    await Promise.all(browsers.map((br) => br.run));
  });
});
