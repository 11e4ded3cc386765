import { ConnectError } from "@connectrpc/connect";

export interface Collected<T> {
  /** Messages received so far, in order. */
  readonly items: T[];
  /** When each message arrived (performance.now()), index for index. */
  readonly arrivals: number[];
  /** Settles when the stream ends: resolves on a clean end, rejects with the stream's error otherwise. */
  readonly done: Promise<void>;
  /** The error the stream ended with (as a ConnectError), once it has. */
  readonly error: ConnectError | undefined;
  /** Resolves with the first message (already received or coming) that matches; rejects at the deadline. */
  waitFor(what: string, match: (item: T) => boolean, timeoutMs?: number): Promise<T>;
}

/** Reads a server stream in the background so a test can wait for messages by content, with deadlines. */
export function collect<T>(stream: AsyncIterable<T>): Collected<T> {
  const items: T[] = [];
  const arrivals: number[] = [];
  const waiters = new Set<() => void>();
  let error: ConnectError | undefined;
  let ended = false;
  const done = (async () => {
    try {
      for await (const item of stream) {
        items.push(item);
        arrivals.push(performance.now());
        for (const wake of waiters) wake();
      }
    } catch (err) {
      error = ConnectError.from(err);
      throw err;
    } finally {
      ended = true;
      for (const wake of waiters) wake();
    }
  })();
  // Callers that only look at .error must not trip the unhandled-rejection check.
  done.catch(() => {});
  return {
    items,
    arrivals,
    done,
    get error() {
      return error;
    },
    waitFor(what, match, timeoutMs = 10_000) {
      return new Promise<T>((resolve, reject) => {
        const check = () => {
          const found = items.find(match);
          if (found !== undefined) finish(() => resolve(found));
          else if (ended)
            finish(() => reject(new Error(`stream ended (${error?.message ?? "cleanly"}) before ${what}`)));
        };
        const timer = setTimeout(
          () => finish(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`))),
          timeoutMs,
        );
        const finish = (settle: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          settle();
        };
        waiters.add(check);
        check();
      });
    },
  };
}
