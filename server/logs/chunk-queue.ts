/** Live bytes waiting for a subscriber to pull them, or the marker of a truncated/replaced file. */
export type QueuedItem = { offset: number; data: Buffer } | "reset";

/**
 * FIFO of queued chunks with O(1) removal at the head: a stalled subscriber may hold many thousands of small
 * chunks, and Array#shift would make draining them quadratic.
 */
export class ChunkQueue {
  private items: (QueuedItem | undefined)[] = [];
  private head = 0;
  /** Bytes of data held. */
  bytes = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: QueuedItem): void {
    this.items.push(item);
    if (item !== "reset") this.bytes += item.data.length;
  }

  peek(): QueuedItem | undefined {
    return this.items[this.head];
  }

  shift(): QueuedItem | undefined {
    const item = this.items[this.head];
    if (item === undefined) return undefined;
    this.items[this.head] = undefined;
    this.head += 1;
    if (item !== "reset") this.bytes -= item.data.length;
    if (this.head === this.items.length) {
      this.clear();
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Drops the first `count` bytes of the head chunk (the rest stays for the next pull). */
  trimHead(count: number): void {
    const item = this.items[this.head];
    if (item === undefined || item === "reset") return;
    this.items[this.head] = { offset: item.offset + count, data: item.data.subarray(count) };
    this.bytes -= count;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
    this.bytes = 0;
  }
}
