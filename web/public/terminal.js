// The detail page's terminal view: a sandbox's log as its terminal draws it (xterm.js), following live over
// GET /ws/sandboxes/:id/logs (wire format in web/README.md). After a dropped connection it resumes with
// ?from=<the next offset not received>, so nothing is shown twice and nothing is lost.
//
// The page provides <div id="terminal" data-sandbox-id="..."> and <span id="terminal-state">, and links
// /static/vendor/xterm.css. Optional on the div: data-cols / data-rows, the pane's size (200x50 by default, as
// the manager creates panes); data-max-pending (see MAX_PENDING_BYTES).
import { FitAddon } from "/static/vendor/addon-fit.mjs";
import { Terminal } from "/static/vendor/xterm.mjs";

const OFFSET_BYTES = 8;
// Waits before reconnecting, by consecutive failure; a connection that delivered something starts over.
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
// Bytes handed to xterm.js and not parsed yet. A browser cannot slow a WebSocket down, so past this the view
// lets go of its socket and, once xterm.js has caught up, resumes from the next byte: a flood of output costs
// the tab this much memory, not the flood, and the server reads the rest from the file at the tab's pace.
// data-max-pending on the element sets another bound (bytes).
const MAX_PENDING_BYTES = 4 * 1024 * 1024;
// The log is drawn for the pane's size; the font shrinks to fit the box down to this, then the box scrolls.
const FONT_PX = { max: 14, min: 8 };

// The background is the page's: the box the page puts the terminal in shows through.
const THEME = {
  background: "rgba(0, 0, 0, 0)",
  foreground: "#c9d1d9",
  cursor: "#c9d1d9",
  selectionBackground: "#264f78",
  black: "#484f58",
  red: "#ff7b72",
  green: "#3fb950",
  yellow: "#d29922",
  blue: "#58a6ff",
  magenta: "#bc8cff",
  cyan: "#39c5cf",
  white: "#b1bac4",
  brightBlack: "#6e7681",
  brightRed: "#ffa198",
  brightGreen: "#56d364",
  brightYellow: "#e3b341",
  brightBlue: "#79c0ff",
  brightMagenta: "#d2a8ff",
  brightCyan: "#56d4dd",
  brightWhite: "#f0f6fc",
};

/**
 * Shows the log of `element.dataset.sandboxId` in `element`, and the connection's state in `stateElement`.
 * Returns a handle whose close() ends the stream for good.
 */
export function mountTerminal(element, stateElement) {
  const id = element.dataset.sandboxId ?? "";
  const cols = positive(element.dataset.cols, 200);
  const rows = positive(element.dataset.rows, 50);
  const maxPending = positive(element.dataset.maxPending, MAX_PENDING_BYTES);
  const term = new Terminal({
    cols,
    rows,
    scrollback: 5000,
    disableStdin: true,
    convertEol: false,
    cursorBlink: false,
    cursorInactiveStyle: "none",
    fontSize: FONT_PX.max,
    fontFamily: 'ui-monospace, "DejaVu Sans Mono", "Liberation Mono", Menlo, monospace',
    theme: THEME,
    allowTransparency: true,
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(element);
  const resize = new ResizeObserver(() => fitFont(term, fit, element, cols));
  resize.observe(element);
  fitFont(term, fit, element, cols);

  /** The next log byte not shown yet; undefined until the first message says where the log starts. */
  let next;
  let pending = 0;
  /** The socket was let go to let xterm.js catch up; reconnect once it has. */
  let catchingUp = false;
  let failures = 0;
  let socket;
  let timer;
  let closed = false;

  const show = (state, text) => {
    element.dataset.state = state;
    if (stateElement) {
      stateElement.textContent = text;
      stateElement.dataset.state = state;
    }
  };

  const onChunk = (buffer) => {
    const offset = Number(new DataView(buffer).getBigUint64(0));
    let bytes = new Uint8Array(buffer, OFFSET_BYTES);
    // The server never repeats a byte; should it ever, the overlap is not drawn twice.
    if (next !== undefined && offset < next) {
      if (offset + bytes.length <= next) return;
      bytes = bytes.subarray(next - offset);
    }
    pending += bytes.length;
    term.write(bytes, () => {
      pending -= bytes.length;
      if (pending === 0 && catchingUp && !closed) {
        catchingUp = false;
        connect();
      }
    });
    next = offset + (buffer.byteLength - OFFSET_BYTES);
    if (pending > maxPending && socket !== undefined) {
      const ws = socket;
      socket = undefined;
      catchingUp = true;
      ws.close(1000);
      show("live", "live, catching up");
    }
  };

  const onControl = (message) => {
    if (message.type === "reset") {
      // The log was truncated or replaced: what is on screen is no longer in it.
      term.reset();
      next = message.offset;
    } else if (message.type === "keepalive") {
      next = message.offset;
    } else if (message.type === "end") {
      next = message.offset;
    }
  };

  const connect = () => {
    timer = undefined;
    show("connecting", "connecting");
    const url = new URL(`/ws/sandboxes/${encodeURIComponent(id)}/logs`, location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    if (next !== undefined) url.searchParams.set("from", String(next));
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    socket = ws;
    let opened = false;
    let end;
    ws.onopen = () => {
      opened = true;
      show("live", "live");
    };
    ws.onmessage = (event) => {
      if (ws !== socket) return;
      failures = 0;
      if (typeof event.data === "string") {
        const message = JSON.parse(event.data);
        if (message.type === "end") end = message;
        onControl(message);
      } else {
        onChunk(event.data);
      }
    };
    ws.onclose = () => {
      if (ws !== socket || closed) return;
      socket = undefined;
      if (end !== undefined && end.reason === "deleted") {
        show("ended", `ended: ${end.message}`);
        return;
      }
      if (!opened)
        void checkGone().then((gone) => (gone ? show("ended", "ended: no such sandbox") : retry()));
      else retry();
    };
  };

  /** A socket that never opened may be for a sandbox that is gone (the upgrade was refused 404). */
  const checkGone = async () => {
    try {
      const res = await fetch(`/api/sandboxes/${encodeURIComponent(id)}`, { cache: "no-store" });
      return res.status === 404;
    } catch {
      return false;
    }
  };

  const retry = () => {
    if (closed) return;
    const wait = BACKOFF_MS[Math.min(failures, BACKOFF_MS.length - 1)];
    failures += 1;
    const at = Date.now() + wait;
    const tick = () => {
      const left = at - Date.now();
      if (left <= 0) {
        connect();
        return;
      }
      show("reconnecting", `reconnecting in ${Math.ceil(left / 1000)}s`);
      timer = setTimeout(tick, Math.min(left, ((left - 1) % 1000) + 1));
    };
    tick();
  };

  connect();
  return {
    terminal: term,
    close() {
      closed = true;
      clearTimeout(timer);
      resize.disconnect();
      socket?.close(1000);
      show("ended", "ended: closed");
    },
  };
}

/**
 * The font size at which `cols` x `rows` fill the element, within FONT_PX: its width always; its height too when
 * the element's height is its own (a box of fixed height), not the terminal's (a box that grows with it).
 */
function fitFont(term, fit, element, cols) {
  for (let i = 0; i < 4; i++) {
    const proposed = fit.proposeDimensions();
    if (proposed === undefined || !Number.isFinite(proposed.cols)) return;
    const size = term.options.fontSize;
    let scale = proposed.cols / cols;
    const style = getComputedStyle(element);
    const box =
      element.clientHeight - Number.parseFloat(style.paddingTop) - Number.parseFloat(style.paddingBottom);
    const screen = term.element?.getBoundingClientRect().height ?? 0;
    if (screen > 0 && Math.abs(box - screen) > 1) scale = Math.min(scale, box / screen);
    const wanted = Math.max(FONT_PX.min, Math.min(FONT_PX.max, Math.floor(size * scale * 2) / 2));
    if (wanted === size) return;
    term.options.fontSize = wanted;
  }
}

function positive(text, fallback) {
  const n = Number(text);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

const element = document.getElementById("terminal");
if (element?.dataset.sandboxId) mountTerminal(element, document.getElementById("terminal-state"));
