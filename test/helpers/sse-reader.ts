// Reads a text/event-stream over real HTTP with fetch, as EventSource would, so a test can wait for events by
// content and see comments (keepalives) and the end of the stream.

export interface SseEvent {
  event: string;
  data: string;
}

export interface SseReader {
  readonly status: number;
  readonly contentType: string;
  /** Events received so far, in order. */
  readonly events: SseEvent[];
  /** Comment lines received so far (`: keepalive`), without the colon. */
  readonly comments: string[];
  /** Resolves when the server ends the stream (rejects if it fails otherwise than by our abort). */
  readonly ended: Promise<void>;
  /** The first event (received or coming) after the first `skip` that matches; rejects at the deadline. */
  waitFor(
    what: string,
    match: (event: SseEvent) => boolean,
    options?: { after?: number; timeoutMs?: number },
  ): Promise<SseEvent>;
  close(): void;
}

export async function openSse(url: string, signal?: AbortSignal): Promise<SseReader> {
  const abort = new AbortController();
  signal?.addEventListener("abort", () => abort.abort(), { once: true });
  const res = await fetch(url, { headers: { accept: "text/event-stream" }, signal: abort.signal });
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const waiters = new Set<() => void>();
  let finished = false;
  const wake = () => {
    for (const waiter of waiters) waiter();
  };
  const ended = (async () => {
    if (res.body === null) return;
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for await (const chunk of res.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        for (let end = buffer.indexOf("\n\n"); end !== -1; end = buffer.indexOf("\n\n")) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          parseBlock(block, events, comments);
        }
        wake();
      }
    } catch (err) {
      if (!abort.signal.aborted) throw err;
    } finally {
      finished = true;
      wake();
    }
  })();
  ended.catch(() => {});
  return {
    status: res.status,
    contentType: res.headers.get("content-type") ?? "",
    events,
    comments,
    ended,
    close: () => abort.abort(),
    waitFor(what, match, options = {}) {
      const after = options.after ?? 0;
      const timeoutMs = options.timeoutMs ?? 10_000;
      return new Promise<SseEvent>((resolve, reject) => {
        const check = () => {
          const found = events.slice(after).find(match);
          if (found !== undefined) {
            done();
            resolve(found);
          } else if (finished) {
            done();
            reject(new Error(`the event stream ended before ${what}; events: ${describe(events)}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(`timed out after ${timeoutMs} ms waiting for ${what}; events: ${describe(events)}`),
          );
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

function parseBlock(block: string, events: SseEvent[], comments: string[]): void {
  let event = "message";
  const data: string[] = [];
  let sawData = false;
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) comments.push(line.slice(1).trim());
    else if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) {
      data.push(line.slice(5).replace(/^ /, ""));
      sawData = true;
    }
  }
  if (sawData) events.push({ event, data: data.join("\n") });
}

function describe(events: SseEvent[]): string {
  return events.map((e) => `${e.event}(${e.data.length} chars)`).join(", ") || "none";
}
