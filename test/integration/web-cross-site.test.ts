// A browser tab must never become a way in. A page from another origin (here: another web server on this
// machine, as a dev server or a malicious local page would be) tries every way a page can reach the manager
// through the tunnel: a no-CORS POST to the REST API, a JSON POST (preflighted), a stop, the create form posted
// from a hidden frame, a cross-origin read, and a WebSocket to a sandbox's log. A page reached through DNS
// rebinding (a name that resolves to 127.0.0.1) tries the same as "same-origin". Nothing may be created,
// stopped or read; the same requests from the dashboard's own origin work (so the refusals are the guard's).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { execa } from "execa";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Backend, type SandboxClient, SandboxStatus } from "../../client/index.js";
import { launchBrowser } from "../helpers/browser.js";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import { requires } from "../helpers/requires.js";
import type { Daemon } from "../helpers/start-daemon.js";
import { openUnixTunnel, type UnixTunnel } from "../helpers/unix-tunnel.js";
import { waitUntil } from "../helpers/wait.js";

const missing = requires("chromium");
const fx = useDaemonFixture();
const env = { MANAGER_DISPLAY_BASE: "7300" };

let browser: Browser | undefined;
let evil: Server | undefined;
beforeAll(async () => {
  if (missing) return;
  browser = await launchBrowser({ hostResolverRules: "MAP rebind.test 127.0.0.1" });
});
afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => (evil ? evil.close(resolve) : resolve(undefined)));
});

/** The attacker's page: it reports what each attempt saw into window.results. */
function attackPage(target: string, wsTarget: string, id: string, projectDir: string): string {
  const body = JSON.stringify({
    name: "pwned",
    backend: "bubblewrap",
    project_dir: projectDir,
    network: true,
  });
  return `<!doctype html><html><body>
<iframe name="sink" style="display:none"></iframe>
<form id="f" method="post" action="${target}/new" target="sink">
  <input name="name" value="pwned-form"><input name="backend" value="bubblewrap">
  <input name="project_dir" value="${projectDir}"><input name="network" value="true">
</form>
<script>
const results = {};
window.results = results;
const attempt = async (key, run) => {
  try { results[key] = await run(); } catch (e) { results[key] = "threw " + e.name; }
};
(async () => {
  await attempt("noCorsCreate", () =>
    fetch("${target}/api/sandboxes", { method: "POST", mode: "no-cors", headers: { "content-type": "text/plain" },
      body: ${JSON.stringify(body)} }).then((r) => "opaque " + r.type));
  await attempt("jsonCreate", () =>
    fetch("${target}/api/sandboxes", { method: "POST", headers: { "content-type": "application/json" },
      body: ${JSON.stringify(body)} }).then((r) => "status " + r.status));
  await attempt("noCorsStop", () =>
    fetch("${target}/api/sandboxes/${id}/stop", { method: "POST", mode: "no-cors" }).then((r) => "opaque " + r.type));
  await attempt("read", () => fetch("${target}/api/sandboxes").then((r) => r.text()));
  document.getElementById("f").submit();
  results.ws = await new Promise((resolve) => {
    const ws = new WebSocket("${wsTarget}/ws/sandboxes/${id}/logs");
    const seen = [];
    ws.onopen = () => seen.push("open");
    ws.onmessage = () => seen.push("message");
    ws.onerror = () => seen.push("error");
    ws.onclose = () => { seen.push("close"); resolve(seen.join(",")); };
  });
  results.done = true;
})();
</script></body></html>`;
}

async function createOne(client: SandboxClient) {
  const { sandbox } = await client.createSandbox({
    name: "victim",
    backend: Backend.BUBBLEWRAP,
    projectDir: fx.projectDir,
  });
  if (sandbox === undefined) throw new Error("no sandbox in the response");
  return sandbox;
}

async function serveEvil(html: string): Promise<string> {
  evil = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(html);
  });
  await new Promise<void>((resolve) => evil?.listen({ host: "127.0.0.1", port: 0 }, resolve));
  return `http://127.0.0.1:${(evil.address() as AddressInfo).port}`;
}

async function unchanged(daemon: Daemon, id: string): Promise<void> {
  const { sandboxes } = await daemon.client.listSandboxes({});
  expect(sandboxes.map((s) => s.name)).toEqual(["victim"]);
  expect(sandboxes.find((s) => s.id === id)?.status).toBe(SandboxStatus.RUNNING);
}

describe.skipIf(missing)("the gateway in a browser", () => {
  let daemon: Daemon;
  let tunnel: UnixTunnel;

  async function setUp() {
    daemon = await fx.start({ env });
    tunnel = await openUnixTunnel(daemon.socketPath ?? "");
    fx.cleanupLater(() => tunnel.close());
    return createOne(daemon.client);
  }

  it("refuses everything a page of another origin tries: creates, stops, the form, reads, the log socket", async () => {
    const victim = await setUp();
    const page = await (browser as Browser).newPage();
    const wsTarget = tunnel.url.replace("http:", "ws:");
    const evilUrl = await serveEvil(attackPage(tunnel.url, wsTarget, victim.id, fx.projectDir));
    await page.goto(evilUrl);
    const results = await waitUntil("the attack page to finish", async () => {
      const r = (await page.evaluate("window.results")) as Record<string, unknown> | undefined;
      return r?.done === true ? r : undefined;
    });
    // The browser reports nothing readable: a preflight the manager does not grant, opaque answers, no socket.
    expect(results.jsonCreate).toBe("threw TypeError");
    expect(results.read).toBe("threw TypeError");
    expect(String(results.ws)).not.toContain("open");
    expect(String(results.ws)).not.toContain("message");
    // And the manager did nothing: still one sandbox, still running; it says why it refused each.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await unchanged(daemon, victim.id);
    const log = daemon.stderr();
    expect(log).toMatch(
      /refused POST \/api\/sandboxes: Origin "http:\/\/127\.0\.0\.1:\d+" is not this manager's own/,
    );
    expect(log).toMatch(/refused POST \/new: Origin/);
    expect(log).toMatch(new RegExp(`refused POST /api/sandboxes/${victim.id}/stop: Origin`));
    expect(log).toMatch(new RegExp(`refused upgrade /ws/sandboxes/${victim.id}/logs: Origin`));
    await page.close();
  });

  it("refuses a page reached through DNS rebinding, and serves the same requests from its own origin", async () => {
    const victim = await setUp();
    const page = await (browser as Browser).newPage();
    const rebound = `http://rebind.test:${tunnel.port}`;
    const answer = await page.goto(`${rebound}/api/sandboxes`);
    expect(answer?.status()).toBe(403);
    expect(await answer?.text()).toContain("DNS rebinding");
    // The rebound page is "same-origin" with rebind.test; its POST names that Host and is refused.
    const status = await page.evaluate(
      async ([body]) =>
        (
          await fetch("/api/sandboxes", {
            method: "POST",
            headers: { "content-type": "application/json" },
            body,
          })
        ).status,
      [JSON.stringify({ name: "pwned", backend: "bubblewrap", project_dir: fx.projectDir })],
    );
    expect(status).toBe(403);
    await unchanged(daemon, victim.id);

    // The dashboard's own origin through the tunnel: the same read answers.
    const own = await page.goto(`${tunnel.url}/api/sandboxes`);
    expect(own?.status()).toBe(200);
    expect(await own?.text()).toContain(victim.id);
    await page.close();
  });

  it("refuses a request naming a foreign Host from any client, curl included", async () => {
    const victim = await setUp();
    const curl = (...args: string[]) =>
      execa("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: evil.example", ...args]);
    expect((await curl(`${tunnel.url}/api/sandboxes`)).stdout).toBe("403");
    const body = JSON.stringify({ name: "pwned", backend: "bubblewrap", project_dir: fx.projectDir });
    const create = await curl(
      "-X",
      "POST",
      "-H",
      "Content-Type: application/json",
      "-d",
      body,
      `${tunnel.url}/api/sandboxes`,
    );
    expect(create.stdout).toBe("403");
    await unchanged(daemon, victim.id);
  });
});
