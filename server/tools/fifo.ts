import { closeSync, constants, openSync, writeSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { execa } from "execa";

/** Makes a FIFO (mode 0600). Node has no mkfifo of its own, so this is a coreutils process. */
export async function makeFifo(mkfifoPath: string, file: string): Promise<void> {
  await execa(mkfifoPath, ["-m", "600", file], { stdin: "ignore", timeout: 10_000 });
}

/**
 * Writes `text` into a FIFO once a reader has it open. Opened non-blocking, so a FIFO nobody reads (yet, or any
 * more) fails the open instead of hanging; the open is retried every 2 ms until `timeoutMs`. Synchronous calls:
 * microseconds each, and no thread-pool round trips where latency matters.
 */
export async function writeToFifo(fifo: string, text: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      try {
        writeSync(fd, text);
      } finally {
        closeSync(fd);
      }
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENXIO" || Date.now() > deadline) throw error;
      await sleep(2);
    }
  }
}
