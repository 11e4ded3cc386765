import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createStateStore, loadState } from "../../server/sandbox/state-store.js";
import { sandboxRecord } from "../helpers/sandbox-record.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "state-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("state store", () => {
  it("reads a missing file as an empty state", async () => {
    expect((await loadState(join(dir, "state.json"))).size).toBe(0);
  });

  it("round-trips records in a schema-versioned file", async () => {
    const file = join(dir, "state.json");
    const store = createStateStore(file);
    await store.save([sandboxRecord("a"), sandboxRecord("b", { status: "dead", exit_code: 3 })]);
    const text = JSON.parse(readFileSync(file, "utf8"));
    expect(text.schema_version).toBe(1);
    expect(Object.keys(text.sandboxes)).toEqual(["a", "b"]);
    const loaded = await loadState(file);
    expect(loaded.get("b")).toEqual(sandboxRecord("b", { status: "dead", exit_code: 3 }));
  });

  it("does not rewrite the file when nothing changed, and leaves no temp files", async () => {
    const file = join(dir, "state.json");
    const store = createStateStore(file);
    await store.save([sandboxRecord("a")]);
    const first = statSync(file);
    await store.save([sandboxRecord("a")]);
    const second = statSync(file);
    expect([second.ino, second.mtimeMs]).toEqual([first.ino, first.mtimeMs]);
    await store.save([sandboxRecord("a", { status: "stopped" })]);
    expect(statSync(file).ino).not.toBe(first.ino); // replaced by rename, never written in place
    expect(readdirSync(dir)).toEqual(["state.json"]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it("keeps the last of concurrent saves", async () => {
    const file = join(dir, "state.json");
    const store = createStateStore(file);
    await Promise.all([
      store.save([sandboxRecord("a")]),
      store.save([sandboxRecord("a"), sandboxRecord("b")]),
      store.save([sandboxRecord("c")]),
    ]);
    expect([...(await loadState(file)).keys()]).toEqual(["c"]);
  });

  it.each([
    ["unreadable JSON", "{", /not valid JSON/],
    ["a newer schema", JSON.stringify({ schema_version: 2, sandboxes: {} }), /schema_version 2/],
    [
      "a record under the wrong key",
      JSON.stringify({ schema_version: 1, sandboxes: { x: sandboxRecord("y") } }),
      /differs/,
    ],
    [
      "a record with an unknown status",
      JSON.stringify({
        schema_version: 1,
        sandboxes: { a: sandboxRecord("a", { status: "zombie" as never }) },
      }),
      /status/,
    ],
  ])("rejects %s naming the file and keeping it", async (_, text, why) => {
    const file = join(dir, "state.json");
    writeFileSync(file, text);
    const error = await loadState(file).catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: "failed_precondition" });
    expect((error as Error).message).toContain(file);
    expect((error as Error).message).toMatch(why);
    expect(readFileSync(file, "utf8")).toBe(text);
  });
});
