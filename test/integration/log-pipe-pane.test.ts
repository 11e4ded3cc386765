import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterEach, beforeEach, expect, it } from "vitest";
import { createLogHub, type LogHubWithStats } from "../../server/logs/create-log-hub.js";
import { collectTail } from "../helpers/tail-collector.js";
import { waitUntil } from "../helpers/wait.js";

// Prints `count` numbered lines, a few milliseconds apart, once the go file exists; then idles until killed.
const PRINTER = `
const [go, count] = process.argv.slice(1);
const fs = require("node:fs");
const wait = () => (fs.existsSync(go) ? print(1) : setTimeout(wait, 5));
const print = (i) => {
  if (i > Number(count)) return setInterval(() => {}, 1 << 30);
  process.stdout.write("line " + i + " " + "=".repeat(i % 70) + "\\n");
  setTimeout(() => print(i + 1), i % 10 === 0 ? 0 : 2);
};
wait();
`;

let dir: string;
let socket: string;
let hub: LogHubWithStats;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "log-pipe-pane-"));
  socket = join(dir, "tmux.sock");
  hub = createLogHub({ keepaliveMs: 60_000 });
});

afterEach(async () => {
  hub.close();
  await execa("tmux", ["-S", socket, "kill-server"], { reject: false });
  rmSync(dir, { recursive: true, force: true });
});

const tmux = (...args: string[]) => execa("tmux", ["-S", socket, "-f", "/dev/null", ...args]);

/** Single-quotes a path for the one shell command pipe-pane takes (the path is ours, but quote anyway). */
const quote = (value: string): string => `'${value.replaceAll("'", "'\\''")}'`;

it("tails what a real tmux pane writes through pipe-pane, and a resumed client misses nothing", async () => {
  const log = join(dir, "sb.log");
  const go = join(dir, "go");
  const count = 300;
  await tmux(
    "new-session",
    "-d",
    "-s",
    "sb",
    "-x",
    "200",
    "-y",
    "50",
    process.execPath,
    "-e",
    PRINTER,
    go,
    `${count}`,
  );
  // Tail before pipe-pane has created the log.
  const whole = collectTail(hub.tail("sb", log, { signal: new AbortController().signal }));
  const first = new AbortController();
  const partial = collectTail(hub.tail("sb", log, { signal: first.signal }));
  await tmux("pipe-pane", "-o", "-t", "sb", `exec cat >> ${quote(log)}`);
  await waitUntil("pipe-pane created the log", () => existsSync(log));
  writeFileSync(go, "");

  await waitUntil("a few lines", () => partial.text().includes("line 40 "));
  first.abort();
  await partial.done;
  const resumed = collectTail(
    hub.tail("sb", log, { fromOffset: partial.nextOffset(), signal: new AbortController().signal }),
  );

  const last = `line ${count} `;
  await waitUntil("every line", () => whole.text().includes(last) && resumed.text().includes(last), 30_000);
  await waitUntil(
    "the end of the last line",
    () => whole.text().endsWith("\r\n") && resumed.text().endsWith("\r\n"),
  );
  const file = readFileSync(log);
  expect(whole.bytes()).toEqual(file);
  expect(Buffer.concat([partial.bytes(), resumed.bytes()])).toEqual(file);
  const text = file.toString();
  for (let i = 1; i <= count; i++) expect(text).toContain(`line ${i} ${"=".repeat(i % 70)}\r\n`);
  expect([...whole.problems, ...partial.problems, ...resumed.problems]).toEqual([]);
  expect(hub.stats()).toMatchObject({ keys: 1, subscribers: 2, watchers: 1, openFiles: 1 });
});
