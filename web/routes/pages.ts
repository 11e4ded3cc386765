import { ConnectError } from "@connectrpc/connect";
import express, { type Response, type Router } from "express";
import { emptyForm, readForm, refusalOnForm } from "../create-form.js";
import { HttpError } from "../http-error.js";
import { loadClaudeMetrics, loadScreenshot, loadSystemMetrics, REFRESH } from "../panel-data.js";
import { sandboxListLocals } from "../sandbox-list.js";
import { toSandboxDetailView } from "../sandbox-view.js";
import type { WebDeps } from "../web-deps.js";

// Small: the form has five short fields.
const FORM_BODY_LIMIT = "16kb";

/**
 * The dashboard's pages and their htmx fragments. Each fragment is the partial its page includes, so a page and
 * its refreshed section are always rendered alike.
 */
export function pagesRouter(deps: WebDeps): Router {
  const router = express.Router();
  const reader = deps.reader;

  const sandboxOf = async (id: string) => {
    const { sandbox } = await reader.getSandbox({ id });
    if (sandbox === undefined) throw new HttpError(404, `no sandbox ${id}`);
    return sandbox;
  };

  router.get("/", async (_req, res) => {
    const [{ sandboxes }, system] = await Promise.all([reader.listSandboxes({}), loadSystemMetrics(reader)]);
    page(res, "index", { title: "Sandboxes", ...sandboxListLocals(sandboxes, new Date()), system, REFRESH });
  });

  router.get("/new", (_req, res) => {
    page(res, "new", { title: "New sandbox", form: emptyForm() });
  });

  router.post("/new", express.urlencoded({ extended: false, limit: FORM_BODY_LIMIT }), async (req, res) => {
    const { view, parsed } = readForm((req.body ?? {}) as Record<string, unknown>);
    if ("errors" in parsed) {
      res.status(400);
      page(res, "new", { title: "New sandbox", form: { ...view, errors: parsed.errors } });
      return;
    }
    try {
      const { sandbox } = await deps.clientFor(req).createSandbox(parsed.request);
      if (sandbox === undefined) throw new Error("CreateSandbox answered without a sandbox");
      res.redirect(303, `/sandboxes/${encodeURIComponent(sandbox.id)}`);
    } catch (err) {
      if (!(err instanceof ConnectError)) throw err;
      const refused = refusalOnForm(view, err);
      res.status(refused.status);
      page(res, "new", { title: "New sandbox", form: refused.view });
    }
  });

  router.get("/sandboxes/:id", async (req, res) => {
    const id = req.params.id;
    const [sandbox, screenshot, claude] = await Promise.all([
      sandboxOf(id),
      loadScreenshot(reader, id),
      loadClaudeMetrics(reader, id),
    ]);
    const view = toSandboxDetailView(sandbox, new Date());
    page(res, "sandbox", { title: sandbox.name, sandbox: view, screenshot, claude, id, REFRESH });
  });

  router.get("/fragments/sandbox-list", async (_req, res) => {
    const { sandboxes } = await reader.listSandboxes({});
    fragment(res, "partials/sandbox-list", sandboxListLocals(sandboxes, new Date()));
  });

  router.get("/fragments/system-metrics", async (_req, res) => {
    fragment(res, "partials/system-metrics", { system: await loadSystemMetrics(reader), REFRESH });
  });

  router.get("/fragments/sandboxes/:id/facts", async (req, res) => {
    const sandbox = await sandboxOf(req.params.id);
    fragment(res, "partials/sandbox-facts", {
      sandbox: toSandboxDetailView(sandbox, new Date()),
      deleted: false,
    });
  });

  router.get("/fragments/sandboxes/:id/claude-metrics", async (req, res) => {
    const id = req.params.id;
    const [claude] = await Promise.all([loadClaudeMetrics(reader, id), sandboxOf(id)]);
    fragment(res, "partials/claude-metrics", { id, claude, REFRESH });
  });

  router.get("/fragments/sandboxes/:id/screenshot", async (req, res) => {
    const id = req.params.id;
    const [screenshot] = await Promise.all([loadScreenshot(reader, id), sandboxOf(id)]);
    fragment(res, "partials/screenshot", { id, screenshot, REFRESH });
  });

  return router;
}

function page(res: Response, view: string, locals: Record<string, unknown>): void {
  res.setHeader("Cache-Control", "no-store");
  res.render(view, locals);
}

// Fragments are what htmx swaps in: as live as the page they belong to.
const fragment = page;
