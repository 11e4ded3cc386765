import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createSandboxManager } from "../../server/sandbox/manager.js";
import type { SandboxManager } from "../../server/sandbox/sandbox-manager.js";
import type { CreateSandboxInput, SandboxEvent } from "../../server/sandbox/types.js";
import {
  createHarness,
  FIXTURE_BIN,
  type Harness,
  leftoverProcesses,
  tmuxSessions,
} from "../helpers/manager-harness.js";

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  await h.cleanup();
});

/** Asserts the manager started nothing: no process, no session, no record, no event, no files. */
async function expectNothingStarted(manager: SandboxManager, events: SandboxEvent[]): Promise<void> {
  expect(await leftoverProcesses(h.root)).toEqual([]);
  expect(tmuxSessions(h.stateDir)).toEqual([]);
  expect(manager.list()).toEqual([]);
  expect(events).toEqual([]);
  expect(readdirSync(join(h.stateDir, "run")).filter((f) => !f.startsWith("spare-"))).toEqual([]);
  expect(readdirSync(join(h.stateDir, "logs"))).toEqual([]);
}

describe("manager input validation", () => {
  const cases: [string, (dir: string) => Partial<CreateSandboxInput> & Record<string, unknown>, string][] = [
    ["empty name", () => ({ name: "" }), "name"],
    ["blank name", () => ({ name: "   " }), "name"],
    ["name of 129 characters", () => ({ name: "x".repeat(129) }), "name"],
    ["name with a newline", () => ({ name: "a\nb" }), "name"],
    ["name with an escape character", () => ({ name: "a\u001b[31m" }), "name"],
    ["name with a bidi override", () => ({ name: "abc\u202edcba" }), "name"],
    ["unknown backend", () => ({ backend: "docker" as never }), "backend"],
    ["relative project dir", () => ({ projectDir: "project" }), "project_dir"],
    ["missing project dir", (dir) => ({ projectDir: join(dir, "nope") }), "project_dir"],
    ["project dir that is a file", (dir) => ({ projectDir: join(dir, "file.txt") }), "project_dir"],
    ["empty project dir", () => ({ projectDir: "" }), "project_dir"],
    ["agent argument with NUL", () => ({ agentArgs: ["ok", "bad\0arg"] }), "agent_args[1]"],
    ["agent args not a list", () => ({ agentArgs: "--help" as never }), "agent_args"],
    ["network not a boolean", () => ({ network: "yes" as never }), "network"],
  ];

  it.each(cases)(
    "rejects %s as invalid_argument naming the field, starting nothing",
    async (_, make, field) => {
      const manager = await h.open();
      const events: SandboxEvent[] = [];
      manager.onEvent((e) => events.push(e));
      writeFileSync(join(h.root, "file.txt"), "x");
      const input = { name: "ok", backend: "bubblewrap", projectDir: h.projectDir, ...make(h.root) };
      const error = await manager.create(input as CreateSandboxInput).catch((e: unknown) => e);
      expect(error).toMatchObject({ kind: "invalid_argument", field });
      expect((error as Error).message.startsWith(`${field}:`)).toBe(true);
      await expectNothingStarted(manager, events);
    },
  );

  it("accepts a name of exactly 128 characters (counted as characters, not bytes)", async () => {
    const manager = await h.open();
    const record = await manager.create({
      name: "é".repeat(128),
      backend: "bubblewrap",
      projectDir: h.projectDir,
    });
    expect(record.name).toBe("é".repeat(128));
  });

  it("answers not_found for every call on an unknown id", async () => {
    const manager = await h.open();
    const calls: (() => unknown)[] = [
      () => manager.get("nope"),
      () => manager.logPath("nope"),
      () => manager.stop("nope"),
      () => manager.delete("nope"),
    ];
    for (const call of calls) {
      await expect(Promise.resolve().then(call)).rejects.toMatchObject({ kind: "not_found" });
    }
  });
});

describe("manager preconditions", () => {
  /** A PATH holding the fixture launchers and the real tools, minus `missing`. */
  function pathWithout(missing: string): string {
    const bin = join(h.root, `bin-no-${missing}`);
    mkdirSync(bin);
    for (const tool of [
      "tmux",
      "Xvfb",
      "xauth",
      "mkfifo",
      "sleep",
      "sh",
      "mv",
      "rm",
      "bash",
      "cat",
      "xdpyinfo",
      "awk",
      "setsid",
    ]) {
      if (tool !== missing) symlinkSync(`/usr/bin/${tool}`, join(bin, tool));
    }
    return missing === "claude-sandbox" ? bin : `${bin}:${FIXTURE_BIN}`;
  }

  it.each([
    ["Xvfb", "xvfb"],
    ["tmux", "tmux"],
    ["xauth", "xauth"],
    ["sh", "dash"],
    ["mkfifo", "coreutils"],
  ])("fails with failed_precondition naming %s and its package %s, starting nothing", async (tool, pkg) => {
    const manager = await h.open({ path: pathWithout(tool) });
    const events: SandboxEvent[] = [];
    manager.onEvent((e) => events.push(e));
    const error = await manager
      .create({ name: "x", backend: "bubblewrap", projectDir: h.projectDir })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: "failed_precondition" });
    expect((error as Error).message).toContain(`${tool} was not found on PATH`);
    expect((error as Error).message).toContain(`Debian package: ${pkg}`);
    await expectNothingStarted(manager, events);
  });

  it("fails with failed_precondition naming the launcher when it is missing", async () => {
    const manager = await h.open({ path: pathWithout("claude-sandbox") });
    const events: SandboxEvent[] = [];
    manager.onEvent((e) => events.push(e));
    const error = await manager
      .create({ name: "x", backend: "bubblewrap", projectDir: h.projectDir })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: "failed_precondition" });
    expect((error as Error).message).toContain("claude-sandbox");
    await expectNothingStarted(manager, events);
  });

  it("tears down the session and files when Xvfb fails, and reports Xvfb's error", async () => {
    const broken = resolve(FIXTURE_BIN, "broken-xvfb");
    const manager = await h.open({ path: `${broken}:${FIXTURE_BIN}:${process.env.PATH}` });
    const events: SandboxEvent[] = [];
    manager.onEvent((e) => events.push(e));
    const error = await manager
      .create({ name: "x", backend: "bubblewrap", projectDir: h.projectDir })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: "internal" });
    expect((error as Error).message).toContain("Xvfb");
    expect((error as Error).message).toContain("fake Xvfb: no screens available");
    await expectNothingStarted(manager, events);
  });
});

describe("manager state file", () => {
  const bad: [string, string, RegExp][] = [
    ["is not JSON", "{ this is not json", /not valid JSON/],
    [
      "has an unknown schema_version",
      JSON.stringify({ schema_version: 2, sandboxes: {} }),
      /schema_version 2/,
    ],
    ["has no schema_version", JSON.stringify({ sandboxes: {} }), /schema_version/],
    ["is an array", "[]", /JSON object/],
    [
      "holds a broken record",
      JSON.stringify({ schema_version: 1, sandboxes: { a: { id: "a" } } }),
      /sandbox "a"/,
    ],
  ];

  it.each(bad)(
    "refuses to start when state.json %s, naming the file and leaving it untouched",
    async (_, text, why) => {
      mkdirSync(h.stateDir, { recursive: true });
      const file = join(h.stateDir, "state.json");
      writeFileSync(file, text);
      const error = await createSandboxManager(h.options()).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toContain(file);
      expect((error as Error).message).toMatch(why);
      expect(readFileSync(file, "utf8")).toBe(text);
      expect(readdirSync(h.stateDir).filter((f) => f.startsWith("state.json"))).toEqual(["state.json"]);
      // The lock was released: once the file is fixed, a manager starts.
      writeFileSync(file, JSON.stringify({ schema_version: 1, sandboxes: {} }));
      const manager = await h.open();
      expect(manager.list()).toEqual([]);
    },
  );

  it("starts empty without a state file and writes state.json atomically only when something changed", async () => {
    const file = join(h.stateDir, "state.json");
    const manager = await h.open();
    const record = await manager.create({ name: "s", backend: "bubblewrap", projectDir: h.projectDir });
    const saved = JSON.parse(readFileSync(file, "utf8"));
    expect(saved).toEqual({ schema_version: 1, sandboxes: { [record.id]: record } });
    const before = readFileSync(file, "utf8");
    await manager.stop(record.id);
    const afterStop = readFileSync(file, "utf8");
    expect(afterStop).not.toBe(before);
    // A second stop changes nothing, so the file is not rewritten (same inode, same mtime).
    const { ino, mtimeMs } = await import("node:fs").then((fs) => fs.statSync(file));
    await manager.stop(record.id);
    await manager.close();
    const after = await import("node:fs").then((fs) => fs.statSync(file));
    expect([after.ino, after.mtimeMs]).toEqual([ino, mtimeMs]);
    expect(existsSync(file)).toBe(true);
    expect(readdirSync(h.stateDir).filter((f) => f.startsWith("state.json"))).toEqual(["state.json"]);
  });
});
