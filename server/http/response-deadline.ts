// A stream whose client stopped reading holds its HTTP response open for as long as the client keeps the
// connection: the last messages wait for a write the client never drains, and end() would only queue behind
// them. The RPC handler knows when its stream is over but cannot see the response; the HTTP layer can see the
// response but not what the stream means. This hands the handler a way to give its response a deadline,
// scoped to the request (the Connect handler signature has no room for the response).
import { AsyncLocalStorage } from "node:async_hooks";

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

const deadlines = new AsyncLocalStorage<SetResponseDeadline>();

/** Runs `handle` (which serves `res`) so that the code it calls can find `res`'s deadline setter. */
export function withResponseDeadline(res: OpenResponse, handle: () => void): void {
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
  deadlines.run(setDeadline, handle);
}

/** Runs `handle` outside any response's scope: for handlers whose in-process RPCs must not end their response. */
export function withoutResponseDeadline(handle: () => void): void {
  deadlines.exit(handle);
}

/**
 * The deadline setter of the HTTP response being served, to be taken when the handler starts (callbacks from
 * elsewhere run outside the request's scope). Undefined for calls that no HTTP response carries directly.
 */
export function responseDeadline(): SetResponseDeadline | undefined {
  return deadlines.getStore();
}
