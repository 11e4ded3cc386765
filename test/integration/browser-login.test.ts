// A browser on a TCP listener cannot send the bearer header: it signs in once at /login with the token and
// carries it as an HttpOnly, SameSite=Strict cookie. Without it a page is a redirect to /login, an API call
// a 401; a wrong token or cookie is refused; another origin cannot sign a browser in; after signing in the
// browser is sent back only to a path of this manager.
import { afterEach, describe, expect, it } from "vitest";
import { createApp } from "../../server/app.js";
import { createFakeLogHub, createFakeManager } from "../helpers/fake-manager.js";
import { freePort } from "../helpers/free-port.js";

const TOKEN = "test-token-0123456789abcdef0123456789abcdef";
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function manager(): Promise<string> {
  const port = await freePort();
  const app = createApp({
    listen: { kind: "tcp", host: "127.0.0.1", port },
    token: TOKEN,
    manager: createFakeManager(),
    logHub: createFakeLogHub(),
    log: () => undefined,
    gateway: () => ({
      handle: (req, res) => {
        res.writeHead(200, { "content-type": "text/plain" });
        res.end(`gateway saw ${req.url}`);
      },
    }),
  });
  cleanups.push(() => app.close());
  await app.listen();
  return `http://127.0.0.1:${port}`;
}

const page = { accept: "text/html,application/xhtml+xml" };

function signIn(base: string, token: string, extra: Record<string, string> = {}, next = "/sandboxes/x?a=1") {
  return fetch(`${base}/login`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", ...extra },
    body: new URLSearchParams({ token, next }).toString(),
  });
}

describe("signing a browser in on a TCP listener", () => {
  it("sends a page request without the token to /login, and answers an API call 401", async () => {
    const base = await manager();
    const answer = await fetch(`${base}/sandboxes/abc?x=1`, { headers: page, redirect: "manual" });
    expect(answer.status).toBe(303);
    expect(answer.headers.get("location")).toBe("/login?next=%2Fsandboxes%2Fabc%3Fx%3D1");
    const form = await fetch(`${base}/login`);
    expect(form.status).toBe(200);
    expect(await form.text()).toContain('name="token"');
    const api = await fetch(`${base}/api/sandboxes`, { headers: page });
    expect(api.status).toBe(401);
    expect(await api.text()).toContain("signing in at /login");
  });

  it("sets an HttpOnly SameSite=Strict cookie for the right token, and that cookie is let in", async () => {
    const base = await manager();
    const answer = await signIn(base, TOKEN);
    expect(answer.status).toBe(303);
    expect(answer.headers.get("location")).toBe("/sandboxes/x?a=1");
    const cookie = answer.headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(/^claude_sandbox_token=[^;]+; HttpOnly; SameSite=Strict; Path=\//);
    const pair = cookie.split(";")[0] ?? "";
    const inside = await fetch(`${base}/api/sandboxes`, { headers: { cookie: pair } });
    expect(inside.status).toBe(200);
    expect(await inside.text()).toBe("gateway saw /api/sandboxes");
  });

  it("refuses a wrong token and a wrong cookie, and sets nothing", async () => {
    const base = await manager();
    const wrong = await signIn(base, "guess");
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("set-cookie")).toBeNull();
    expect(await wrong.text()).toContain("not this manager&#39;s token");
    const forged = await fetch(`${base}/api/sandboxes`, {
      headers: { cookie: "claude_sandbox_token=guess" },
    });
    expect(forged.status).toBe(401);
    expect(await forged.text()).toContain("wrong token in the sign-in cookie");
  });

  it("refuses a sign-in posted by another origin (login CSRF) and a foreign Host", async () => {
    const base = await manager();
    const crossSite = await signIn(base, TOKEN, { origin: "http://127.0.0.1:1" });
    expect(crossSite.status).toBe(403);
    expect(crossSite.headers.get("set-cookie")).toBeNull();
  });

  it("sends a signed-in browser back only to a path of this manager", async () => {
    const base = await manager();
    for (const next of [
      "//evil.example/x",
      "https://evil.example/",
      "/\\evil.example",
      "javascript:alert(1)",
    ]) {
      const answer = await signIn(base, TOKEN, {}, next);
      expect(answer.headers.get("location"), next).toBe("/");
    }
  });
});
