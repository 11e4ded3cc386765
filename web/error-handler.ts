import type { NextFunction, Request, Response } from "express";
import { HttpError, toHttpError } from "./http-error.js";

/** Anything no route took. */
export function notFound(req: Request, _res: Response, next: NextFunction): void {
  const what = req.originalUrl.startsWith("/api/") ? "no such endpoint" : "no such page";
  next(new HttpError(404, `${what}: ${req.method} ${req.path}`));
}

/**
 * The one error handler: JSON `{"error": "..."}` under /api, an HTML page elsewhere (htmx requests get the bare
 * message, which they swap in). Server faults are logged with their details; the client sees a generic line.
 */
export function errorHandler(
  err: unknown,
  req: Request,
  res: Response,
  _next: NextFunction,
  log: (line: string) => void,
): void {
  const http = toHttpError(err);
  if (http.status >= 500 && !(err instanceof HttpError)) {
    log(
      `${req.method} ${req.originalUrl} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    );
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.status(http.status);
  res.setHeader("Cache-Control", "no-store");
  if (req.originalUrl.startsWith("/api/") || req.originalUrl === "/api") {
    res.json({ error: http.message, ...(http.field !== undefined ? { field: http.field } : {}) });
    return;
  }
  if (req.get("hx-request") === "true") {
    res.type("text/plain").send(http.message);
    return;
  }
  res.render("error", { status: http.status, message: http.message });
}
