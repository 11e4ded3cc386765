import { open } from "node:fs/promises";

/**
 * Reads a file of /proc whole into `scratch` (a larger buffer when it does not fit) and returns the bytes read,
 * a view that is valid until `scratch` is used again. fs.readFile cannot know a /proc file's size (stat says 0)
 * and allocates 64 KiB for each; a scan of every process that way held tens of MiB at once, per scan.
 */
export async function readProcFile(path: string, scratch: Buffer): Promise<Buffer> {
  const handle = await open(path, "r");
  try {
    let buffer = scratch;
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) return buffer.subarray(0, length);
      length += bytesRead;
      if (length === buffer.length) {
        const larger = Buffer.allocUnsafe(buffer.length * 2);
        buffer.copy(larger);
        buffer = larger;
      }
    }
  } finally {
    await handle.close();
  }
}

/** Files of /proc a scan reads at once: enough to keep the thread pool busy, few enough to bound the buffers. */
const SCAN_READERS = 8;
const SCAN_BUFFER_BYTES = 16 * 1024;

/**
 * Runs `read` for every item with at most SCAN_READERS at a time, each reader reusing its own scratch buffer;
 * results in the order of `items`.
 */
export async function scanProc<T, R>(
  items: readonly T[],
  read: (item: T, scratch: Buffer) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const reader = async (): Promise<void> => {
    const scratch = Buffer.allocUnsafe(SCAN_BUFFER_BYTES);
    while (next < items.length) {
      const index = next++;
      results[index] = await read(items[index] as T, scratch);
    }
  };
  await Promise.all(Array.from({ length: Math.min(SCAN_READERS, items.length) }, reader));
  return results;
}
