// A sandbox of a soak daemon running the printer launcher (bench/tail-clients.ts's writePrinterLauncher), as the
// fan-out benchmarks make one: created waiting for its go file, so that every reader can attach first and the
// lines are measured from the first.
import { closeSync, existsSync, fstatSync, openSync, readSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Backend } from "../client/index.js";
import type { SoakDaemon } from "./soak-daemon.js";

export interface PrinterSandbox {
  id: string;
  /** Its log file in the daemon's state directory. */
  log: string;
  /** The log's size once it is not empty (the printer waits for its go file): where readers start, before line 1. */
  start: bigint;
  /** Creates the go file: the printer starts. */
  go(): void;
  /** Resolves once the log ends with the printer's last line, or at `deadline` (performance.now()). */
  untilPrinted(deadline: number): Promise<void>;
}

export interface PrinterOptions {
  name: string;
  /** The go file's name in the daemon's project directory. */
  goFile: string;
  linesPerS: number;
  seconds: number;
  lineBytes: number;
}

/** Creates the sandbox (on a daemon started with the printer as its launcher) and waits for its log. */
export async function createPrinterSandbox(
  daemon: SoakDaemon,
  options: PrinterOptions,
): Promise<PrinterSandbox> {
  const go = join(daemon.projectDir, options.goFile);
  const { sandbox } = await daemon.client.createSandbox({
    name: options.name,
    backend: Backend.BUBBLEWRAP,
    projectDir: daemon.projectDir,
    agentArgs: [go, String(options.linesPerS), String(options.seconds), String(options.lineBytes)],
  });
  const id = sandbox?.id ?? "";
  const log = join(daemon.stateDir, "logs", `${id}.log`);
  while (!(existsSync(log) && statSync(log).size > 0)) await sleep(10);
  const start = (await daemon.client.getLogs({ id, limit: 1 })).size;
  return {
    id,
    log,
    start,
    go: () => writeFileSync(go, ""),
    async untilPrinted(deadline) {
      while (!tailOf(log).includes("printer-done") && performance.now() < deadline) await sleep(100);
    },
  };
}

/** The last bytes of a file, as text. */
function tailOf(path: string, bytes = 4096): string {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const buffer = Buffer.alloc(Math.min(bytes, size));
    readSync(fd, buffer, 0, buffer.length, size - buffer.length);
    return buffer.toString("latin1");
  } finally {
    closeSync(fd);
  }
}
