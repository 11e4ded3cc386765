import { Code, ConnectError } from "@connectrpc/connect";
import express, { type Request, type Response, type Router } from "express";
import type { Sandbox, WatchSandboxesResponse } from "../../client/index.js";
import { HttpError } from "../http-error.js";
import { renderView } from "../render-view.js";
import { sandboxListLocals } from "../sandbox-list.js";
import { toSandboxDetailView } from "../sandbox-view.js";
import { openSse, type SseResponse } from "../sse-response.js";
import type { WebDeps } from "../web-deps.js";

// A create or a delete announces a few changes within milliseconds: wait this long so they make one update.
const COALESCE_MS = 30;

/**
 * Server-sent events that keep open pages up to date, each fed by one WatchSandboxes stream of its own:
 * - /events/sandbox-list: `sandbox-list` events carrying the re-rendered list partial, first on connecting
 *   (whatever changed since the page was rendered) and then after every change.
 * - /events/sandboxes/:id: `header` and `facts` events with the sandbox's header and facts partials after
 *   each change of that sandbox; once it is deleted, those saying so, then `deleted`, the last event.
 */
export function eventsRouter(deps: WebDeps): Router {
  const router = express.Router();

  router.get("/events/sandbox-list", (req, res) => {
    const sandboxes = new Map<string, Sandbox>();
    streamWatch(deps, req, res, {
      apply(event) {
        if (event.case === "snapshot") {
          sandboxes.clear();
          for (const s of event.value.sandboxes) sandboxes.set(s.id, s);
        } else if (event.case === "upserted") sandboxes.set(event.value.id, event.value);
        else if (event.case === "deleted") sandboxes.delete(event.value.id);
        else return false;
        return true;
      },
      async render() {
        const locals = sandboxListLocals([...sandboxes.values()], new Date());
        return { events: [["sandbox-list", await renderView(req.app, "partials/sandbox-list", locals)]] };
      },
    });
  });

  router.get("/events/sandboxes/:id", async (req, res) => {
    const id = req.params.id;
    // An unknown sandbox is a 404, which EventSource takes as final (it does not reconnect).
    const first = (await deps.reader.getSandbox({ id })).sandbox;
    if (first === undefined) throw new HttpError(404, `no sandbox ${id}`);
    let sandbox = first;
    let deleted = false;
    streamWatch(deps, req, res, {
      apply(event) {
        if (event.case === "snapshot") {
          const found = event.value.sandboxes.find((s) => s.id === id);
          if (found === undefined) deleted = true;
          else sandbox = found;
        } else if (event.case === "upserted" && event.value.id === id) sandbox = event.value;
        else if (event.case === "deleted" && event.value.id === id) deleted = true;
        else return false;
        return true;
      },
      async render() {
        const locals = { sandbox: toSandboxDetailView(sandbox, new Date()), deleted };
        const [header, facts] = await Promise.all([
          renderView(req.app, "partials/sandbox-header", locals),
          renderView(req.app, "partials/sandbox-facts", locals),
        ]);
        const events: [string, string][] = [
          ["header", header],
          ["facts", facts],
        ];
        if (deleted) events.push(["deleted", ""]);
        return { events, last: deleted };
      },
    });
  });

  return router;
}

interface WatchView {
  /** Takes one watch event into the view's state; true when the view must be sent again. */
  apply(event: WatchSandboxesResponse["event"]): boolean;
  /** The events (name, HTML) to send for the current state; `last` ends the stream after them. */
  render(): Promise<{ events: [string, string][]; last?: boolean }>;
}

/**
 * Runs one WatchSandboxes stream for one open page, sending the view again after each change. Changes that
 * arrive while an update is being rendered or is waiting for a slow client are folded into the next update,
 * so a client that reads slowly gets fewer updates, never a backlog.
 */
function streamWatch(deps: WebDeps, req: Request, res: Response, view: WatchView): void {
  const sse = openSse(res, deps.shutdown);
  let dirty = false;
  let busy = false;
  const sendLatest = async () => {
    while (dirty && !sse.signal.aborted) {
      await new Promise((resolve) => setTimeout(resolve, COALESCE_MS));
      dirty = false;
      const update = await view.render();
      for (const [event, html] of update.events) await sse.send(event, html);
      if (update.last) sse.end();
    }
  };
  const poke = () => {
    dirty = true;
    if (busy) return;
    busy = true;
    sendLatest()
      .catch((err: unknown) => fail(deps, req, sse, err))
      .finally(() => {
        busy = false;
        // A change that came in between the loop's last check and here.
        if (dirty && !sse.signal.aborted) poke();
      });
  };
  void (async () => {
    try {
      for await (const message of deps.reader.watchSandboxes({}, { signal: sse.signal })) {
        if (view.apply(message.event)) poke();
      }
      sse.end();
    } catch (err) {
      fail(deps, req, sse, err);
    }
  })();
}

function fail(deps: WebDeps, req: Request, sse: SseResponse, err: unknown): void {
  // The client left or the daemon is shutting down: nothing went wrong.
  const code = err instanceof ConnectError ? err.code : undefined;
  if (!sse.signal.aborted && code !== Code.Unavailable && code !== Code.Canceled) {
    deps.log(`${req.originalUrl}: event stream failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  sse.end();
}
