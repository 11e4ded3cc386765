import { once } from "node:events";
import { Code, ConnectError } from "@connectrpc/connect";
import express, {
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
  type Router,
} from "express";
import { type SandboxClient, SandboxStatus, ScreenshotFormat } from "../../client/index.js";
import { firstFieldError, parseCreateInput, serviceFieldError } from "../create-request.js";
import { HttpError, toHttpError } from "../http-error.js";
import { toClaudeMetricsJson, toSystemMetricsJson } from "../metrics-json.js";
import { toSandboxJson } from "../sandbox-json.js";
import { createSandboxListCache } from "../sandbox-list-cache.js";
import type { WebDeps } from "../web-deps.js";

/**
 * Largest create body: the service takes up to 64 KiB of agent arguments, which JSON's quoting can swell, and
 * nothing legitimate comes near this.
 */
export const MAX_BODY_BYTES = 128 * 1024;
/** Bytes of log per GetLogs call while streaming a log: what one download holds in memory at a time. */
export const LOG_PAGE_BYTES = 1024 * 1024;

/** The documented REST endpoints under /api; anything else under /api is a JSON 404 from the error handler. */
export function apiRouter(deps: WebDeps): Router {
  const router = express.Router();
  const { reader } = deps;
  const list = createSandboxListCache(reader, { shutdown: deps.shutdown, log: deps.log });

  router
    .route("/sandboxes")
    .get(async (_req, res) => {
      sendJson(res, 200, await list.json());
    })
    .post(jsonBody, async (req, res) => {
      const sandbox = (await createSandbox(deps.clientFor(req), req.body)).sandbox;
      if (sandbox === undefined) throw new Error("CreateSandbox answered without a sandbox");
      // Whoever created it lists next and must find it there.
      await list.settled(sandbox.id, (listed) => listed !== undefined);
      res.setHeader("Location", `${req.baseUrl}/sandboxes/${encodeURIComponent(sandbox.id)}`);
      sendJson(res, 201, toSandboxJson(sandbox));
    })
    .all(notAllowed("GET, HEAD, POST"));

  router
    .route("/sandboxes/:id")
    .get(async (req, res) => {
      const { sandbox } = await reader.getSandbox({ id: idOf(req) });
      if (sandbox === undefined) throw new Error("GetSandbox answered without a sandbox");
      sendJson(res, 200, toSandboxJson(sandbox));
    })
    .delete(async (req, res) => {
      const id = idOf(req);
      await deps.clientFor(req).deleteSandbox({ id });
      await list.settled(id, (listed) => listed === undefined);
      res.status(204).end();
    })
    .all(notAllowed("GET, HEAD, DELETE"));

  router
    .route("/sandboxes/:id/stop")
    .post(async (req, res) => {
      const id = idOf(req);
      await deps.clientFor(req).stopSandbox({ id });
      await list.settled(id, (listed) => listed === undefined || listed.status !== SandboxStatus.RUNNING);
      res.status(204).end();
    })
    .all(notAllowed("POST"));

  router
    .route("/sandboxes/:id/screenshot")
    .get(async (req, res) => {
      const id = idOf(req);
      const { format, maxWidth } = screenshotQuery(req);
      const shot = await sandboxCall(reader, id, () => reader.getScreenshot({ id, format, maxWidth }));
      if (shot.image.length === 0)
        throw new HttpError(404, `sandbox ${JSON.stringify(id)} has no screenshot yet`);
      res.status(200);
      res.setHeader("Content-Type", shot.mimeType === "" ? "image/png" : shot.mimeType);
      // Every request must show the display as it is now, never a frame a browser kept.
      res.setHeader("Cache-Control", "no-store");
      res.end(Buffer.from(shot.image.buffer, shot.image.byteOffset, shot.image.byteLength));
    })
    .all(notAllowed("GET, HEAD"));

  router
    .route("/sandboxes/:id/metrics")
    .get(async (req, res) => {
      const id = idOf(req);
      sendJson(
        res,
        200,
        toClaudeMetricsJson(await sandboxCall(reader, id, () => reader.getSandboxMetrics({ id }))),
      );
    })
    .all(notAllowed("GET, HEAD"));

  router
    .route("/sandboxes/:id/logs")
    .get((req, res) => streamLog(reader, idOf(req), req, res))
    .all(notAllowed("GET, HEAD"));

  router
    .route("/metrics/system")
    .get(async (_req, res) => {
      sendJson(res, 200, toSystemMetricsJson(await reader.getSystemMetrics({})));
    })
    .all(notAllowed("GET, HEAD"));

  return router;
}

const idOf = (req: Request): string => String(req.params.id);

/** Writes JSON with no ETag work: these answers change all the time and are never cached. */
function sendJson(res: Response, status: number, value: unknown): void {
  const body = Buffer.isBuffer(value) ? value : JSON.stringify(value);
  res.status(status);
  res.setHeader("Content-Type", "application/json; charset=utf-8");
  res.setHeader("Cache-Control", "no-store");
  res.setHeader("Content-Length", Buffer.byteLength(body));
  res.end(body);
}

/** Answers a method the path does not take (405 with Allow), and OPTIONS with what it takes. */
function notAllowed(allow: string): RequestHandler {
  return (req, res, next) => {
    res.setHeader("Allow", allow);
    if (req.method === "OPTIONS") {
      res.status(204).end();
      return;
    }
    next(new HttpError(405, `${req.method} is not allowed on ${req.baseUrl}${req.path}; it takes ${allow}`));
  };
}

const parseJson = express.json({
  limit: MAX_BODY_BYTES,
  strict: true,
  type: "application/json",
  inflate: false,
});

/** A JSON body or a clear refusal: none at all (400), another type (415), too big (413), not JSON (400). */
function jsonBody(req: Request, res: Response, next: NextFunction): void {
  const length = req.headers["content-length"];
  const hasBody = req.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0");
  if (!hasBody) {
    next(
      new HttpError(400, "body: the request needs a JSON body {name, backend, project_dir, network}", "body"),
    );
    return;
  }
  if (req.is("application/json") === false) {
    const type = req.get("content-type");
    next(
      new HttpError(
        415,
        `the request body must be JSON (Content-Type: application/json), not ${type === undefined ? "untyped" : type}`,
      ),
    );
    return;
  }
  parseJson(req, res, (err?: unknown) => {
    if ((err as { type?: unknown } | undefined)?.type === "entity.too.large") {
      next(new HttpError(413, `the request body is larger than the limit of ${MAX_BODY_BYTES} bytes`));
      return;
    }
    next(err);
  });
}

async function createSandbox(client: SandboxClient, body: unknown) {
  const parsed = parseCreateInput(body, "json");
  if ("errors" in parsed) {
    const { field, message } = firstFieldError(parsed.errors);
    throw new HttpError(400, message, field);
  }
  try {
    return await client.createSandbox(parsed.request);
  } catch (err) {
    const fieldError = serviceFieldError(err);
    if (fieldError === undefined) throw err;
    throw new HttpError(toHttpError(err).status, (err as ConnectError).rawMessage, fieldError.field);
  }
}

/**
 * A call about one sandbox that the service may not implement yet: while it answers unimplemented (for any id),
 * an unknown id is still the 404 it would be.
 */
const SCREENSHOT_FORMATS: Readonly<Record<string, ScreenshotFormat>> = {
  png: ScreenshotFormat.PNG,
  jpeg: ScreenshotFormat.JPEG,
  webp: ScreenshotFormat.WEBP,
};

/** `?format=png|jpeg|webp&max_width=N` (thumbnails); both optional, a bad one is a 400 naming it. */
function screenshotQuery(req: Request): { format: ScreenshotFormat; maxWidth: number } {
  const { format, max_width: maxWidth } = req.query;
  const chosen = format === undefined ? ScreenshotFormat.PNG : SCREENSHOT_FORMATS[String(format)];
  if (chosen === undefined) throw new HttpError(400, "format: must be png, jpeg or webp", "format");
  if (maxWidth === undefined) return { format: chosen, maxWidth: 0 };
  const width = typeof maxWidth === "string" && /^\d{1,9}$/.test(maxWidth) ? Number(maxWidth) : Number.NaN;
  if (Number.isNaN(width)) {
    throw new HttpError(400, "max_width: must be a whole number of pixels (0: full size)", "max_width");
  }
  return { format: chosen, maxWidth: width };
}

async function sandboxCall<T>(reader: SandboxClient, id: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof ConnectError && err.code === Code.Unimplemented) await reader.getSandbox({ id });
    throw err;
  }
}

/**
 * The log as it is when asked for, page by page through GetLogs, each page written once the client has taken
 * the last: a log of any size costs one page of memory. Output written meanwhile is left for the next request
 * (or the WebSocket), so a busy sandbox's download ends.
 */
async function streamLog(reader: SandboxClient, id: string, req: Request, res: Response): Promise<void> {
  const gone = new AbortController();
  res.once("close", () => gone.abort());
  const signal = gone.signal;
  // The first page comes before the headers, so an unknown id is still a 404.
  const first = await reader.getLogs({ id, offset: 0n, limit: LOG_PAGE_BYTES }, { signal });
  const end = first.size;
  res.status(200);
  res.setHeader("Content-Type", "text/plain; charset=utf-8");
  res.setHeader("Cache-Control", "no-store");
  if (req.method === "HEAD") {
    res.end();
    return;
  }
  let page = first;
  try {
    for (;;) {
      const offset = page.offset + BigInt(page.data.length);
      if (page.data.length > 0 && !res.write(page.data)) await once(res, "drain", { signal });
      if (page.data.length === 0 || offset >= end) break;
      const limit = Number(end - offset < BigInt(LOG_PAGE_BYTES) ? end - offset : BigInt(LOG_PAGE_BYTES));
      page = await reader.getLogs({ id, offset, limit }, { signal });
    }
  } catch (err) {
    if (signal.aborted) return;
    throw err;
  }
  res.end();
}
