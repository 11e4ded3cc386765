// The dashboard's pages, fragments and live events over real HTTP, through a loopback port tunnelled to a real
// daemon's Unix socket (what `ssh -L` gives a laptop), with real Xvfb, tmux and the fixture launcher.
import { execFile } from "node:child_process";
import { mkdtemp, realpath, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { Backend, SandboxStatus } from "../../client/index.js";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import { openSse } from "../helpers/sse-reader.js";
import type { Daemon } from "../helpers/start-daemon.js";
import { waitUntil } from "../helpers/wait.js";
import { createNamed, startWebDaemon } from "../helpers/web-daemon.js";

const fx = useDaemonFixture();
const XSS_NAME = "<img src=x onerror=alert(1)>";
const XSS_ESCAPED = "&lt;img src=x onerror=alert(1)&gt;";

const startGateway = () => startWebDaemon(fx, { MANAGER_DISPLAY_BASE: "7500" });
const create = (daemon: Daemon, name: string, extra: { network?: boolean; shell?: boolean } = {}) =>
  createNamed(daemon, fx.projectDir, name, extra);

async function get(url: string): Promise<{ status: number; type: string; body: string; headers: Headers }> {
  const res = await fetch(url, { redirect: "manual" });
  return {
    status: res.status,
    type: res.headers.get("content-type") ?? "",
    body: await res.text(),
    headers: res.headers,
  };
}

function postForm(url: string, fields: Record<string, string>): Promise<Response> {
  return fetch(url, {
    method: "POST",
    body: new URLSearchParams(fields),
    redirect: "manual",
    headers: { origin: new URL(url).origin },
  });
}

/** The block of the form that holds `field`'s input, up to the next field. */
function fieldBlock(html: string, field: string): string {
  const start = html.indexOf(`name="${field}"`);
  if (start === -1) throw new Error(`no ${field} input in the form`);
  const blockStart = html.lastIndexOf('<div class="field', start);
  const next = html.indexOf('<div class="field', start);
  return html.slice(blockStart, next === -1 ? html.indexOf("</form>", start) : next);
}

/** Event handler attributes (onclick=…) on any tag; quoted values are left out, as an escaped name may be one. */
function inlineHandlers(html: string): string[] {
  const tags = html.match(/<[a-z][^>]*>/gi) ?? [];
  return tags.filter((tag) => /\son[a-z]+\s*=/i.test(tag.replace(/"[^"]*"|'[^']*'/g, '""')));
}

function cards(html: string): string[] {
  return html.split('<li class="card sandbox-card').slice(1);
}

describe("dashboard pages", () => {
  it("the index shows every sandbox, newest first, with its badge, backend, short id, name, project and age; names are escaped", async () => {
    const { daemon, base } = await startGateway();
    const first = await create(daemon, "first one");
    const xss = await create(daemon, XSS_NAME, { network: false });
    const page = await get(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.type).toBe("text/html; charset=utf-8");
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/script-src[^;]*unsafe/);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(page.headers.get("x-content-type-options")).toBe("nosniff");

    expect(page.body).toContain(XSS_ESCAPED);
    expect(page.body).not.toContain(XSS_NAME);
    const listed = cards(page.body);
    expect(listed).toHaveLength(2);
    // Newest first.
    expect(listed[0]).toContain(xss.id);
    expect(listed[1]).toContain(first.id);
    for (const [card, sandbox] of [
      [listed[0] ?? "", xss],
      [listed[1] ?? "", first],
    ] as const) {
      expect(card).toContain('<span class="badge badge-running">running</span>');
      expect(card).toContain(">bubblewrap<");
      expect(card).toContain(`>${sandbox.id.slice(0, 8)}<`);
      expect(card).toContain(`>${fx.projectDir}<`);
      expect(card).toMatch(/data-age[^>]*>\d+s</);
      expect(card).toContain(`data-thumb="${sandbox.id}"`);
      expect(card).toContain(`href="/sandboxes/${sandbox.id}"`);
    }
    expect(listed[0]).toContain(">no network<");
    expect(listed[1]).toContain(`<a class="sandbox-name" href="/sandboxes/${first.id}">first one</a>`);
    expect(page.body).toContain("2 sandboxes");
    expect(page.body).toContain('sse-connect="/events/sandbox-list"');
    // The host panel: the manager's last sample, refreshing itself.
    expect(page.body).toContain('id="system-metrics"');
    expect(page.body).toMatch(/<dt>CPU<\/dt><dd><span class="meter-value">[^<]*%[^<]*<\/span><meter/);
    expect(page.body).not.toContain("System metrics are not available");

    // The fragment is the page's list section, and only that.
    const fragment = await get(`${base}/fragments/sandbox-list`);
    expect(fragment.status).toBe(200);
    expect(fragment.type).toBe("text/html; charset=utf-8");
    expect(fragment.body).not.toContain("<html");
    expect(fragment.body.trim().startsWith('<div id="sandbox-list"')).toBe(true);
    expect(cards(fragment.body)).toHaveLength(2);
    expect(fragment.body).toContain(XSS_ESCAPED);
    expect(fragment.body).not.toContain(XSS_NAME);
    expect(fragment.headers.get("content-security-policy")).toBe(csp);
  });

  it("an empty index says so and offers to create one", async () => {
    const { base } = await startGateway();
    const page = await get(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.body).toContain("No sandboxes yet.");
    expect(page.body).toContain('href="/new"');
    expect(cards(page.body)).toHaveLength(0);
  });

  it("the sandbox page shows its facts, the attach command that works, the panels and the terminal's place", async () => {
    const { daemon, base } = await startGateway();
    const sandbox = await create(daemon, XSS_NAME, { network: false });
    const page = await get(`${base}/sandboxes/${sandbox.id}`);
    expect(page.status).toBe(200);
    expect(page.type).toBe("text/html; charset=utf-8");
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(page.body).toContain(`<title>${XSS_ESCAPED} · claude-sandbox</title>`);
    expect(page.body).toContain(`<h1>${XSS_ESCAPED}</h1>`);
    expect(page.body).not.toContain(XSS_NAME);
    const fact = (label: string) => {
      const m = new RegExp(`<dt>${label}</dt><dd[^>]*>(.*?)</dd></div>`, "s").exec(page.body);
      if (m === null) throw new Error(`no ${label} fact on the page`);
      return m[1] ?? "";
    };
    expect(fact("Status")).toContain("badge-running");
    expect(fact("ID")).toContain(sandbox.id);
    expect(fact("Backend")).toBe("bubblewrap");
    expect(fact("Project")).toContain(fx.projectDir);
    expect(fact("Network")).toBe("no");
    expect(fact("Display")).toBe(`:${sandbox.displayNum}`);
    expect(sandbox.displayNum).toBeGreaterThanOrEqual(7500);
    expect(fact("Created")).toMatch(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);

    // The attach command is exact: run as the page writes it (minus `attach`), tmux finds the session.
    const attach = /<code class="copyable" data-copy>([^<]+)<\/code>/.exec(page.body)?.[1] ?? "";
    expect(attach).toBe(`tmux -S ${join(daemon.stateDir, "tmux.sock")} attach -t ${sandbox.tmuxSession}`);
    const words = attach.split(" ");
    await promisify(execFile)("tmux", ["-S", words[2] ?? "", "has-session", "-t", `=${words[5]}`]);

    // Limits and usage as the manager reports them.
    expect(page.body).toContain("<dt>Processes</dt><dd>4,096</dd>");
    if (sandbox.usage?.memoryCurrentBytes !== undefined) {
      expect(page.body).toMatch(/<dt>Memory<\/dt><dd><span class="meter-value">[\d.]+ [KMG]iB of/);
    }

    // Where the terminal goes (terminal.js and xterm.css), its state line, and the panels' placeholders.
    expect(page.body).toContain(`<div id="terminal" class="terminal" data-sandbox-id="${sandbox.id}"></div>`);
    expect(page.body).toContain('<span id="terminal-state"');
    expect(page.body).toContain('<script type="module" src="/static/terminal.js"></script>');
    expect(page.body).toContain('<link rel="stylesheet" href="/static/vendor/xterm.css">');
    // The display as it is now (the first ask captures it at once), sized as the display is.
    expect(page.body).toMatch(
      new RegExp(
        `<img src="/api/sandboxes/${sandbox.id}/screenshot\\?t=\\d+" alt="The sandbox's display" width="\\d+" height="\\d+">`,
      ),
    );
    // A project without transcripts yet: the Claude panel shows zeros.
    expect(page.body).toContain("<div><dt>Input tokens</dt><dd>0</dd></div>");
    // Stop and Delete, each asking first, and the page's own event stream.
    expect(page.body).toContain(`hx-post="/api/sandboxes/${sandbox.id}/stop"`);
    expect(page.body).toContain(`hx-delete="/api/sandboxes/${sandbox.id}"`);
    expect(page.body.match(/hx-confirm="[^"]+"/g)).toHaveLength(2);
    expect(page.body).toContain(`sse-connect="/events/sandboxes/${sandbox.id}"`);
    // No inline script anywhere: every script is a file.
    expect(page.body.match(/<script(?![^>]*\ssrc=)[^>]*>/g)).toBeNull();
    expect(inlineHandlers(page.body)).toEqual([]);

    // Stopped: the status and its reason, the stop time, no Stop button.
    await daemon.client.stopSandbox({ id: sandbox.id });
    const stopped = await get(`${base}/sandboxes/${sandbox.id}`);
    expect(stopped.body).toContain('<span class="badge badge-stopped">stopped</span>');
    expect(stopped.body).toContain("<dt>Stopped</dt>");
    expect(stopped.body).not.toContain("/stop");
    expect(stopped.body).toContain(`hx-delete="/api/sandboxes/${sandbox.id}"`);
    // A stopped sandbox has no display: the panel says so, the page is still there.
    expect(stopped.status).toBe(200);
    expect(stopped.body).toContain("is stopped: screenshots exist only while its display runs");
  });

  it("each fragment answers with its section, and 404 for an unknown sandbox", async () => {
    const { daemon, base } = await startGateway();
    const sandbox = await create(daemon, "fragments");
    const system = await get(`${base}/fragments/system-metrics`);
    expect(system.status).toBe(200);
    expect(system.type).toBe("text/html; charset=utf-8");
    expect(system.body.trim().startsWith('<section id="system-metrics"')).toBe(true);
    expect(system.body).toContain('hx-get="/fragments/system-metrics"');
    expect(system.body).toMatch(/<dt>Memory<\/dt><dd><span class="meter-value">[^<]+<\/span><meter/);

    const shot = await get(`${base}/fragments/sandboxes/${sandbox.id}/screenshot`);
    expect(shot.status).toBe(200);
    expect(shot.body.trim().startsWith('<div id="screenshot"')).toBe(true);
    expect(shot.body).toContain(`hx-get="/fragments/sandboxes/${sandbox.id}/screenshot"`);
    expect(shot.body).toContain(`<img src="/api/sandboxes/${sandbox.id}/screenshot?t=`);

    const claude = await get(`${base}/fragments/sandboxes/${sandbox.id}/claude-metrics`);
    expect(claude.status).toBe(200);
    expect(claude.body.trim().startsWith('<div id="claude-metrics"')).toBe(true);
    expect(claude.body).toContain(`hx-get="/fragments/sandboxes/${sandbox.id}/claude-metrics"`);
    expect(claude.body).toContain("<div><dt>Prompts</dt><dd>0</dd></div>");

    const facts = await get(`${base}/fragments/sandboxes/${sandbox.id}/facts`);
    expect(facts.status).toBe(200);
    expect(facts.body).toContain(sandbox.id);
    expect(facts.body).not.toContain("<html");

    for (const path of ["screenshot", "claude-metrics", "facts"]) {
      const missing = await fetch(`${base}/fragments/sandboxes/no-such-id/${path}`, {
        headers: { "hx-request": "true" },
      });
      expect(missing.status, path).toBe(404);
      // htmx gets the bare message to show.
      expect(await missing.text(), path).toBe('sandbox "no-such-id" not found');
    }
  });

  it("unknown pages and sandboxes are 404 pages, with the security headers", async () => {
    const { base } = await startGateway();
    for (const path of [
      "/sandboxes/00000000-0000-4000-8000-000000000000",
      "/no-such-page",
      "/fragments/nothing",
    ]) {
      const page = await get(`${base}${path}`);
      expect(page.status, path).toBe(404);
      expect(page.type, path).toBe("text/html; charset=utf-8");
      expect(page.body, path).toContain("<h1>Not found</h1>");
      expect(page.headers.get("content-security-policy"), path).toContain("default-src 'none'");
    }
    const unknown = await get(`${base}/sandboxes/00000000-0000-4000-8000-000000000000`);
    expect(unknown.body).toContain("sandbox &#34;00000000-0000-4000-8000-000000000000&#34; not found");
    const xss = await get(`${base}/sandboxes/${encodeURIComponent(XSS_NAME)}`);
    expect(xss.status).toBe(404);
    expect(xss.body).not.toContain(XSS_NAME);
  });
});

describe("the create form", () => {
  it("GET /new has the fields, the backends, and one network checkbox", async () => {
    const { base } = await startGateway();
    const page = await get(`${base}/new`);
    expect(page.status).toBe(200);
    expect(page.type).toBe("text/html; charset=utf-8");
    expect(page.body).toContain('<form class="card create-form" method="post" action="/new">');
    for (const field of ["name", "backend", "project_dir", "network", "shell"]) {
      expect(page.body.match(new RegExp(`name="${field}"`, "g")), field).toHaveLength(1);
    }
    expect(fieldBlock(page.body, "network")).toContain("checked");
    expect(fieldBlock(page.body, "shell")).not.toContain("checked");
    for (const backend of ["bubblewrap", "container", "vm"]) {
      expect(page.body).toContain(`<option value="${backend}"`);
    }
    expect(page.body).not.toContain("field-error");
  });

  it("a bad form comes back (400) with each error next to its field and the values kept; nothing is created", async () => {
    const { daemon, base } = await startGateway();
    const res = await postForm(`${base}/new`, {
      name: "   ",
      backend: "qemu",
      project_dir: "relative/dir",
      shell: "on",
    });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const html = await res.text();
    expect(fieldBlock(html, "name")).toContain(
      '<p class="field-error" id="name-error">must not be empty</p>',
    );
    expect(fieldBlock(html, "backend")).toContain(
      '<p class="field-error" id="backend-error">&#34;qemu&#34; is not one of bubblewrap, container, vm</p>',
    );
    expect(fieldBlock(html, "project_dir")).toContain(
      '<p class="field-error" id="project_dir-error">&#34;relative/dir&#34; is not an absolute path</p>',
    );
    expect(fieldBlock(html, "project_dir")).toContain('value="relative/dir"');
    expect(fieldBlock(html, "project_dir")).toContain('aria-invalid="true"');
    // The ticked shell box stays ticked; the unticked network box stays unticked.
    expect(fieldBlock(html, "shell")).toContain("checked");
    expect(fieldBlock(html, "network")).not.toContain("checked");
    expect(fieldBlock(html, "network")).not.toContain("field-error");
    expect((await daemon.client.listSandboxes({})).sandboxes).toEqual([]);

    const huge = await postForm(`${base}/new`, { name: "x".repeat(32 * 1024), backend: "bubblewrap" });
    expect(huge.status).toBe(413);
    expect(await huge.text()).toContain("the request body is too large");
    expect((await daemon.client.listSandboxes({})).sandboxes).toEqual([]);
  });

  it("what the manager refuses comes back next to its field too, escaped, with nothing created", async () => {
    const { daemon, base } = await startGateway();
    const missingDir = join(fx.projectDir, `gone-${XSS_NAME}`);
    const res = await postForm(`${base}/new`, {
      name: XSS_NAME,
      backend: "bubblewrap",
      project_dir: missingDir,
      network: "on",
    });
    expect(res.status).toBe(400);
    const html = await res.text();
    const block = fieldBlock(html, "project_dir");
    expect(block).toMatch(/<p class="field-error" id="project_dir-error">[^<]*gone-&lt;img src=x/);
    expect(html).not.toContain(XSS_NAME);
    expect(fieldBlock(html, "name")).toContain(`value="${XSS_ESCAPED}"`);
    expect(fieldBlock(html, "name")).not.toContain("field-error");
    expect((await daemon.client.listSandboxes({})).sandboxes).toEqual([]);
  });

  it("POST /new creates the sandbox as the form says and redirects (303) to its page", async () => {
    const { daemon, base } = await startGateway();
    const project = await realpath(await mkdtemp(join(tmpdir(), "csm-form-")));
    fx.cleanupLater(() => rm(project, { recursive: true, force: true }));
    // No network field: the box was left unticked, so no network (the seed sent it twice and always had one).
    const res = await postForm(`${base}/new`, {
      name: "from the form",
      backend: "bubblewrap",
      project_dir: project,
      shell: "on",
    });
    expect(res.status).toBe(303);
    const location = res.headers.get("location") ?? "";
    expect(location).toMatch(/^\/sandboxes\/[0-9a-f-]{36}$/);
    const id = location.slice("/sandboxes/".length);
    const { sandbox } = await daemon.client.getSandbox({ id });
    expect(sandbox).toMatchObject({
      name: "from the form",
      backend: Backend.BUBBLEWRAP,
      projectDir: project,
      network: false,
      shell: true,
      status: SandboxStatus.RUNNING,
    });
    const page = await get(`${base}${location}`);
    expect(page.status).toBe(200);
    expect(page.body).toContain("<h1>from the form</h1>");

    const withNetwork = await postForm(`${base}/new`, {
      name: "networked",
      backend: "bubblewrap",
      project_dir: project,
      network: "on",
    });
    expect(withNetwork.status).toBe(303);
    const second = (withNetwork.headers.get("location") ?? "").slice("/sandboxes/".length);
    expect((await daemon.client.getSandbox({ id: second })).sandbox).toMatchObject({
      network: true,
      shell: false,
    });
  });
});

describe("live updates", () => {
  it("the list's event stream sends the re-rendered list when a sandbox is created, changes and is deleted", async () => {
    const { daemon, base } = await startGateway();
    const before = await create(daemon, "already there");
    const sse = await openSse(`${base}/events/sandbox-list`, fx.abortLater());
    expect(sse.status).toBe(200);
    expect(sse.contentType).toBe("text/event-stream; charset=utf-8");
    // On connecting: the list as it is now (whatever changed since the page was rendered).
    const first = await sse.waitFor("the current list", (e) => e.event === "sandbox-list");
    expect(cards(first.data)).toHaveLength(1);
    expect(first.data).toContain(before.id);

    const created = await create(daemon, XSS_NAME);
    const withNew = await sse.waitFor("the list with the new sandbox", (e) => e.data.includes(created.id));
    expect(withNew.event).toBe("sandbox-list");
    expect(cards(withNew.data)).toHaveLength(2);
    expect(withNew.data).toContain(XSS_ESCAPED);
    expect(withNew.data).not.toContain(XSS_NAME);
    // The same markup the fragment serves.
    expect(withNew.data.trim().startsWith('<div id="sandbox-list"')).toBe(true);

    let seen = sse.events.length;
    await daemon.client.stopSandbox({ id: before.id });
    const afterStop = await sse.waitFor(
      "the list with the stopped sandbox",
      (e) => /badge-stopped/.test(cards(e.data).find((c) => c.includes(before.id)) ?? ""),
      { after: seen },
    );
    expect(cards(afterStop.data)).toHaveLength(2);

    seen = sse.events.length;
    await daemon.client.deleteSandbox({ id: created.id });
    const afterDelete = await sse.waitFor(
      "the list without the deleted sandbox",
      (e) => !e.data.includes(created.id),
      {
        after: seen,
      },
    );
    expect(cards(afterDelete.data)).toHaveLength(1);
    expect(afterDelete.data).toContain(before.id);
    sse.close();
  });

  it("the sandbox's event stream sends its facts on each change, then `deleted` and ends; unknown ids are 404", async () => {
    const { daemon, base } = await startGateway();
    const sandbox = await create(daemon, "watched");
    const sse = await openSse(`${base}/events/sandboxes/${sandbox.id}`, fx.abortLater());
    expect(sse.status).toBe(200);
    const facts = await sse.waitFor("the facts", (e) => e.event === "facts");
    expect(facts.data).toContain("badge-running");
    await sse.waitFor("the header", (e) => e.event === "header" && e.data.includes("/stop"));

    let seen = sse.events.length;
    await daemon.client.stopSandbox({ id: sandbox.id });
    await sse.waitFor("the stopped facts", (e) => e.event === "facts" && e.data.includes("badge-stopped"), {
      after: seen,
    });
    const header = await sse.waitFor("the header without Stop", (e) => e.event === "header", { after: seen });
    expect(header.data).not.toContain("/stop");

    seen = sse.events.length;
    await daemon.client.deleteSandbox({ id: sandbox.id });
    await sse.waitFor("deleted", (e) => e.event === "deleted", { after: seen });
    const last = sse.events.filter((e) => e.event === "facts").at(-1);
    expect(last?.data).toContain("This sandbox was deleted.");
    await sse.ended;

    const unknown = await fetch(`${base}/events/sandboxes/${sandbox.id}`);
    expect(unknown.status).toBe(404);
    await unknown.body?.cancel();
  });

  it("a quiet event stream gets keepalive comments, so tunnels and proxies keep it open", async () => {
    const { base } = await startGateway();
    const sse = await openSse(`${base}/events/sandbox-list`, fx.abortLater());
    await sse.waitFor("the list", (e) => e.event === "sandbox-list");
    const t0 = performance.now();
    await waitUntil("a keepalive comment", () => sse.comments.includes("keepalive"), 20_000, 100);
    expect(performance.now() - t0).toBeGreaterThan(10_000);
    expect(sse.events).toHaveLength(1);
    sse.close();
  }, 30_000);

  it("event streams end when the daemon shuts down", async () => {
    const { daemon, base } = await startGateway();
    const sandbox = await create(daemon, "shutdown");
    const list = await openSse(`${base}/events/sandbox-list`, fx.abortLater());
    const one = await openSse(`${base}/events/sandboxes/${sandbox.id}`, fx.abortLater());
    await list.waitFor("the list", (e) => e.event === "sandbox-list");
    await one.waitFor("the facts", (e) => e.event === "facts");
    const t0 = performance.now();
    daemon.child.kill("SIGTERM");
    await Promise.all([list.ended, one.ended]);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect((await daemon.exited()).code).toBe(0);
  });
});
