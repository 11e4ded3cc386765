// A stream whose client stopped reading holds its HTTP response open for as long as the client keeps the
// connection: the last messages wait for a write the client never drains, and end() would only queue behind
// them. The RPC handler knows when its stream is over but cannot see the response; the HTTP layer can see the
// response but not what the stream means. This hands the handler a way to give its response a deadline,
// keyed by the request, which Connect hands to contextValues (the handler signature has no room for the response).
// A WeakMap, not AsyncLocalStorage: that one costs a promise hook on every promise the daemon makes, and a
// fan-out of log streams makes many.
import { createContextKey } from "@connectrpc/connect";

/** Gives the response `ms` to finish; a response that makes no progress for that long is destroyed. */
export type SetResponseDeadline = (ms: number) => void;

/** What this needs of a node:http or node:http2 server response. */
interface OpenResponse {
  destroy(): unknown;
  emit(event: "drain"): boolean;
  on(event: "drain", listener: () => void): unknown;
  off(event: "drain", listener: () => void): unknown;
  once(event: "close", listener: () => void): unknown;
}

/** The deadline setter of the HTTP response carrying the call; undefined for in-process calls. */
export const responseDeadlineKey = createContextKey<SetResponseDeadline | undefined>(undefined, {
  description: "the response deadline setter",
});

const deadlines = new WeakMap<object, SetResponseDeadline>();

/** Runs `handle` (which serves `req` with `res`) with `res`'s deadline setter findable from `req`. */
export function withResponseDeadline(req: object, res: OpenResponse, handle: () => void): void {
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  const progress = (): void => {
    timer?.refresh();
  };
  res.once("close", () => {
    closed = true;
    clearTimeout(timer);
    res.off("drain", progress);
  });
  const setDeadline: SetResponseDeadline = (ms) => {
    if (closed || timer !== undefined) return;
    // Only silence counts: a client still draining, however slowly, gets the final messages.
    timer = setTimeout(() => {
      res.off("drain", progress);
      res.destroy();
      // connect-node waits for 'drain' (or 'error') after a write that did not flush, and a destroyed response
      // emits neither: the handler's stream would stay suspended forever. Released, its next write fails with
      // ERR_STREAM_DESTROYED, which ends the stream as aborted.
      res.emit("drain");
    }, ms);
    timer.unref();
    res.on("drain", progress);
  };
  deadlines.set(req, setDeadline);
  handle();
}

/** The deadline setter of the response serving `req`, if it was served through withResponseDeadline. */
export function responseDeadlineOf(req: object): SetResponseDeadline | undefined {
  return deadlines.get(req);
}
