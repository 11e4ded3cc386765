// A browser cannot send `Authorization: Bearer`, so on a TCP listener it signs in once: /login takes the token
// (pasted from MANAGER_TOKEN_FILE) and sets it as an HttpOnly, SameSite=Strict cookie, which the access check
// accepts like the header. SameSite=Strict keeps the cookie off every request another site starts, and the
// request guard has already refused cross-origin posts (so no page can sign a browser in with its own token).
// Pages asked for without it are sent to /login; API and RPC calls get their 401 as before.
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { digest } from "./token-digest.js";

export const TOKEN_COOKIE = "claude_sandbox_token";
const LOGIN_PATH = "/login";
const MAX_FORM_BYTES = 4096;
const COOKIE_MAX_AGE_S = 7 * 24 * 3600;

/** The value of cookie `name` in `req`'s Cookie header, if any. */
export function cookieValue(
  req: { headers: NodeJS.Dict<string | string[]> },
  name: string,
): string | undefined {
  const raw = req.headers.cookie;
  const header = Array.isArray(raw) ? raw.join("; ") : raw;
  if (header === undefined) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq === -1 || part.slice(0, eq).trim() !== name) continue;
    try {
      return decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      return part.slice(eq + 1).trim();
    }
  }
  return undefined;
}

export interface BrowserLogin {
  /** Answers `req` if it is for /login or is a page a signed-out browser asked for; false to refuse it as usual. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
}

export function createBrowserLogin(token: string): BrowserLogin {
  const expected = digest(token);
  return {
    handle(req, res) {
      const url = new URL(req.url ?? "/", "http://manager");
      if (url.pathname === LOGIN_PATH && req.method === "GET") {
        loginPage(res, 200, safeNext(url.searchParams.get("next")));
        return true;
      }
      if (url.pathname === LOGIN_PATH && req.method === "POST") {
        readForm(req, (form) => {
          if (form === undefined) {
            loginPage(res, 413, "/", "the form is too large");
            return;
          }
          const next = safeNext(form.get("next"));
          const given = form.get("token") ?? "";
          if (!timingSafeEqual(digest(given), expected)) {
            loginPage(res, 401, next, "that is not this manager's token");
            return;
          }
          res.writeHead(303, {
            location: next,
            "set-cookie": `${TOKEN_COOKIE}=${encodeURIComponent(given)}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${COOKIE_MAX_AGE_S}`,
            "cache-control": "no-store",
          });
          res.end();
        });
        return true;
      }
      if (req.method === "GET" && wantsPage(req, url.pathname)) {
        res.writeHead(303, {
          location: `${LOGIN_PATH}?next=${encodeURIComponent(url.pathname + url.search)}`,
        });
        res.end();
        return true;
      }
      return false;
    },
  };
}

// A navigation to a dashboard page, not an API, RPC, fragment or socket call.
function wantsPage(req: IncomingMessage, path: string): boolean {
  const accept = req.headers.accept ?? "";
  if (!accept.includes("text/html")) return false;
  return !/^\/(api|ws|fragments|events|static|claude_sandbox\.)/.test(path);
}

// Only a path on this manager: never another site (an open redirect after login).
function safeNext(next: string | null | undefined): string {
  return next?.startsWith("/") && !next.startsWith("//") && !next.includes("\\") ? next : "/";
}

function readForm(req: IncomingMessage, done: (form: URLSearchParams | undefined) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  req.on("data", (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) over = true;
    else chunks.push(chunk);
  });
  req.on("end", () => done(over ? undefined : new URLSearchParams(Buffer.concat(chunks).toString("utf8"))));
  req.on("error", () => done(undefined));
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(res: ServerResponse, status: number, next: string, error?: string): void {
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "content-security-policy":
      "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
  });
  res.end(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · claude-sandbox</title>
<link rel="stylesheet" href="/static/style.css"></head>
<body><main class="page login">
<h1>claude-sandbox</h1>
<p>This manager listens on TCP: paste the token from its <code>MANAGER_TOKEN_FILE</code>.</p>
<form method="post" action="${LOGIN_PATH}">
<input type="hidden" name="next" value="${escapeHtml(next)}">
<label>Token <input type="password" name="token" autocomplete="current-password" required autofocus></label>
${error === undefined ? "" : `<p class="field-error">${escapeHtml(error)}</p>`}
<button type="submit">Sign in</button>
</form></main></body></html>`);
}
