import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { defaultLimits } from "../../server/sandbox/resource-limits.js";
import { validateCreateInput } from "../../server/sandbox/validate-input.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "validate-"));
  mkdirSync(join(dir, "real"));
  symlinkSync(join(dir, "real"), join(dir, "link"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("create input validation", () => {
  it("fills defaults (network on, shell off, no args) and stores the project dir's real path", async () => {
    const valid = await validateCreateInput({ name: "n", backend: "vm", projectDir: join(dir, "link", ".") });
    expect(valid).toEqual({
      name: "n",
      backend: "vm",
      projectDir: join(dir, "real"),
      launchPath: join(dir, "real"),
      network: true,
      shell: false,
      agentArgs: [],
      limits: defaultLimits(),
    });
  });

  it("counts the name in characters, so 128 emoji pass and 129 do not", async () => {
    const base = { backend: "bubblewrap" as const, projectDir: dir };
    await expect(validateCreateInput({ ...base, name: "😀".repeat(128) })).resolves.toBeDefined();
    await expect(validateCreateInput({ ...base, name: "😀".repeat(129) })).rejects.toMatchObject({
      field: "name",
    });
  });

  it("checks every field before touching the file system", async () => {
    // The bad backend is reported even though the project dir does not exist either.
    await expect(
      validateCreateInput({ name: "n", backend: "nope" as never, projectDir: join(dir, "missing") }),
    ).rejects.toMatchObject({ kind: "invalid_argument", field: "backend" });
  });

  it("limits the number and size of agent arguments", async () => {
    const base = { name: "n", backend: "bubblewrap" as const, projectDir: dir };
    await expect(validateCreateInput({ ...base, agentArgs: Array(257).fill("a") })).rejects.toMatchObject({
      field: "agent_args",
    });
    await expect(validateCreateInput({ ...base, agentArgs: ["x".repeat(70_000)] })).rejects.toMatchObject({
      field: "agent_args",
    });
    await expect(validateCreateInput({ ...base, agentArgs: [42 as never] })).rejects.toMatchObject({
      field: "agent_args[0]",
    });
  });
});
