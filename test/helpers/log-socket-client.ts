// A client of the gateway's log WebSocket (GET /ws/sandboxes/:id/logs), as a browser uses it: the `ws`
// package, through a tunnel's port. It collects the frames (web/log-wire.ts) and checks them as they come.
import WebSocket from "ws";
import { OFFSET_BYTES } from "../../web/log-wire.js";
import { waitUntil } from "./wait.js";

export interface ControlMessage {
  type: string;
  offset: number;
  reason?: string;
  message?: string;
}

export interface LogSocketClient {
  readonly ws: WebSocket;
  /** Binary frames in order: the offset each says and its bytes. */
  readonly chunks: { offset: number; data: Buffer }[];
  /** Text frames in order. */
  readonly controls: ControlMessage[];
  /** Offset of the first byte received; undefined before the first chunk. */
  first(): number | undefined;
  /** The offset right after the last byte received (or the last keepalive's); undefined before either. */
  next(): number | undefined;
  /** Every byte received, in order. */
  bytes(): Buffer;
  text(): string;
  /** Frames that did not continue where the previous one ended (a gap or an overlap) without a reset. */
  readonly problems: string[];
  end(): ControlMessage | undefined;
  /** Resolves with the close code and reason once the socket is closed. */
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Waits until the text received contains `text`. */
  waitForText(text: string, timeoutMs?: number): Promise<void>;
}

/** The log socket's URL through `baseUrl` (http://127.0.0.1:port), with `?from=` when given. */
export function logSocketUrl(baseUrl: string, id: string, from?: number | string): string {
  const url = new URL(`/ws/sandboxes/${encodeURIComponent(id)}/logs`, baseUrl);
  url.protocol = "ws:";
  if (from !== undefined) url.searchParams.set("from", String(from));
  return url.href;
}

/** Opens the socket; resolves once it is open (rejects with the HTTP status if the upgrade was refused). */
export async function openLogSocket(
  url: string,
  headers: Record<string, string> = {},
): Promise<LogSocketClient> {
  const ws = new WebSocket(url, { headers, perMessageDeflate: false });
  const chunks: { offset: number; data: Buffer }[] = [];
  const controls: ControlMessage[] = [];
  const problems: string[] = [];
  let next: number | undefined;
  let recent = "";
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    if (!isBinary) {
      const message = JSON.parse(data.toString()) as ControlMessage;
      controls.push(message);
      if (message.type === "reset" || message.type === "keepalive" || message.type === "end") {
        if (message.type !== "reset" && next !== undefined && message.offset !== next)
          problems.push(`${message.type} at ${message.offset}, expected ${next}`);
        next = message.offset;
      }
      return;
    }
    const offset = Number(data.readBigUInt64BE(0));
    const bytes = data.subarray(OFFSET_BYTES);
    if (next !== undefined && offset !== next) problems.push(`chunk at ${offset}, expected ${next}`);
    if (bytes.length === 0) problems.push(`empty chunk at ${offset}`);
    chunks.push({ offset, data: bytes });
    next = offset + bytes.length;
    recent = (recent + bytes.subarray(Math.max(0, bytes.length - 256)).toString("latin1")).slice(-512);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => reject(new UpgradeRefused(res.statusCode ?? 0, body)));
    });
    ws.once("error", reject);
  });
  const bytes = () => Buffer.concat(chunks.map((c) => c.data));
  return {
    ws,
    chunks,
    controls,
    problems,
    first: () => chunks[0]?.offset,
    next: () => next,
    bytes,
    text: () => bytes().toString("latin1"),
    end: () => controls.find((c) => c.type === "end"),
    closed,
    async waitForText(text, timeoutMs = 15_000) {
      // `recent` is the end of the stream, whatever the frames; a short stream is searched whole.
      const small = () => chunks.reduce((sum, c) => sum + c.data.length, 0) < 4 * 1024 * 1024;
      await waitUntil(
        `${JSON.stringify(text)} on the log socket`,
        () => recent.includes(text) || (small() && bytes().toString("latin1").includes(text)),
        timeoutMs,
      );
    },
  };
}

/** An upgrade the gateway answered with an HTTP status instead of 101. */
export class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`upgrade refused: ${status} ${body.trim()}`);
  }
}

/** The status (and body) an upgrade to `url` is refused with; throws if it opens. */
export async function refusedUpgrade(
  url: string,
  headers: Record<string, string> = {},
): Promise<UpgradeRefused> {
  try {
    const client = await openLogSocket(url, headers);
    client.ws.terminate();
  } catch (err) {
    if (err instanceof UpgradeRefused) return err;
    throw err;
  }
  throw new Error(`the upgrade to ${url} was accepted`);
}
