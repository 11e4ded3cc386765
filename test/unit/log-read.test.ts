import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findBacklogStart } from "../../server/logs/find-backlog-start.js";
import { DEFAULT_READ_LIMIT, MAX_READ_LIMIT, resolveReadLimit } from "../../server/logs/log-limits.js";
import { readLogRange } from "../../server/logs/read-log-range.js";

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "log-read-"));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("readLogRange", () => {
  it("reads a missing file as empty with size 0", async () => {
    expect(await readLogRange(join(dir, "missing.log"), { limit: 10 })).toEqual({
      data: Buffer.alloc(0),
      offset: 0,
      size: 0,
    });
    expect(await readLogRange(join(dir, "missing.log"), { offset: 7, limit: 10 })).toMatchObject({
      offset: 7,
      size: 0,
    });
  });

  it("without an offset returns the last `limit` bytes", async () => {
    const path = join(dir, "a.log");
    writeFileSync(path, "0123456789");
    expect(await readLogRange(path, { limit: 4 })).toEqual({
      data: Buffer.from("6789"),
      offset: 6,
      size: 10,
    });
    expect(await readLogRange(path, { limit: 100 })).toEqual({
      data: Buffer.from("0123456789"),
      offset: 0,
      size: 10,
    });
  });

  it("with an offset returns at most `limit` bytes from there; past the end, empty data and the size", async () => {
    const path = join(dir, "b.log");
    writeFileSync(path, "0123456789");
    expect(await readLogRange(path, { offset: 3, limit: 4 })).toEqual({
      data: Buffer.from("3456"),
      offset: 3,
      size: 10,
    });
    expect(await readLogRange(path, { offset: 8, limit: 4 })).toMatchObject({ data: Buffer.from("89") });
    expect(await readLogRange(path, { offset: 10, limit: 4 })).toEqual({
      data: Buffer.alloc(0),
      offset: 10,
      size: 10,
    });
    expect(await readLogRange(path, { offset: 99, limit: 4 })).toEqual({
      data: Buffer.alloc(0),
      offset: 99,
      size: 10,
    });
  });

  it("returns raw bytes, invalid UTF-8 included", async () => {
    const path = join(dir, "bin.log");
    const bytes = Buffer.from([0x1b, 0x5b, 0x33, 0x31, 0x6d, 0xff, 0xfe, 0x00, 0xc3]);
    writeFileSync(path, bytes);
    expect((await readLogRange(path, { limit: 100 })).data).toEqual(bytes);
  });

  it("refuses a bad offset or limit naming it", async () => {
    const path = join(dir, "a.log");
    await expect(readLogRange(path, { offset: -1, limit: 4 })).rejects.toMatchObject({
      kind: "invalid_argument",
      field: "offset",
    });
    for (const limit of [0, -1, 1.5, MAX_READ_LIMIT + 1]) {
      await expect(readLogRange(path, { limit })).rejects.toMatchObject({
        kind: "invalid_argument",
        field: "limit",
      });
    }
  });
});

describe("resolveReadLimit", () => {
  it("uses the default for 0 or none, keeps valid limits and refuses more than the maximum", () => {
    expect(resolveReadLimit(undefined)).toBe(DEFAULT_READ_LIMIT);
    expect(resolveReadLimit(0)).toBe(DEFAULT_READ_LIMIT);
    expect(resolveReadLimit(1)).toBe(1);
    expect(resolveReadLimit(MAX_READ_LIMIT)).toBe(MAX_READ_LIMIT);
    expect(() => resolveReadLimit(MAX_READ_LIMIT + 1)).toThrow(/limit: at most 4194304 bytes/);
    expect(() => resolveReadLimit(-5)).toThrow(expect.objectContaining({ field: "limit" }));
  });
});

/** The obvious answer: split the whole text, keep the last `lines` lines (a trailing partial line counts). */
function reference(text: string, lines: number): number {
  if (lines === 0) return text.length;
  const starts = [0];
  for (let i = 0; i < text.length - 1; i++) if (text[i] === "\n") starts.push(i + 1);
  return starts[Math.max(0, starts.length - lines)] ?? 0;
}

function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

describe("findBacklogStart", () => {
  it("agrees with splitting the whole file, across block boundaries and edge cases", async () => {
    const random = seeded(42);
    const cases: string[] = ["", "\n", "\n\n\n", "abc", "abc\n", "a\nb", "\nabc"];
    for (let n = 0; n < 12; n++) {
      let text = "";
      const size = Math.floor(random() * 300_000);
      while (text.length < size) {
        const r = random();
        // Mostly short lines, some empty ones, some longer than a 64 KiB block.
        const length =
          r < 0.1 ? 0 : r < 0.97 ? Math.floor(random() * 200) : 70_000 + Math.floor(random() * 5000);
        text += `${"x".repeat(length)}\n`;
      }
      if (random() < 0.5) text += "partial";
      cases.push(text);
    }
    for (const [i, text] of cases.entries()) {
      const path = join(dir, `case-${i}.log`);
      writeFileSync(path, text);
      const handle = await open(path, "r");
      try {
        for (const lines of [0, 1, 2, 3, 10, 999, 1000, 5000]) {
          const start = await findBacklogStart(handle, text.length, lines, Number.MAX_SAFE_INTEGER);
          expect(start, `case ${i}, ${lines} lines`).toBe(reference(text, lines));
        }
      } finally {
        await handle.close();
      }
    }
  });

  it("only looks at bytes before `end`", async () => {
    const path = join(dir, "end.log");
    writeFileSync(path, "a\nb\nc\nd\n");
    const handle = await open(path, "r");
    try {
      // The first four bytes are "a\nb\n": its last line is "b\n".
      expect(await findBacklogStart(handle, 4, 1, 1000)).toBe(2);
      expect(await findBacklogStart(handle, 0, 5, 1000)).toBe(0);
    } finally {
      await handle.close();
    }
  });
});
