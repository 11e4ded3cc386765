import type { NextFunction, Request, Response } from "express";

// No inline script anywhere (every script is a file under /static), so a name or a log line that slipped past
// escaping still could not run. Styles may be inline: xterm.js and htmx set element styles as they render.
// connect-src 'self' covers the WebSocket to the same host:port in current browsers.
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** Headers every gateway answer carries: the page may not be framed, sniffed into another type or run others' code. */
export function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.setHeader("Content-Security-Policy", CSP);
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("X-Frame-Options", "DENY");
  // Not no-referrer: under it a browser sends `Origin: null` with the dashboard's own form posts and htmx
  // requests, which the daemon's guard refuses as cross-site. same-origin sends no referrer to other sites.
  res.setHeader("Referrer-Policy", "same-origin");
  res.setHeader("Cross-Origin-Opener-Policy", "same-origin");
  res.setHeader("Cross-Origin-Resource-Policy", "same-origin");
  next();
}
