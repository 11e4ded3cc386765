import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The dependency direction is a lint rule (biome.json overrides): checked here against the project's own
// configuration, copied into a scratch tree, so a violation is proven to fail the lint without planting one in
// the repository.
const BIOME = resolve("node_modules/.bin/biome");
let tree: string;

beforeAll(() => {
  tree = mkdtempSync(join(tmpdir(), "lint-direction-"));
  const config = JSON.parse(readFileSync("biome.json", "utf8")) as Record<string, unknown>;
  delete config.$schema;
  writeFileSync(join(tree, "biome.json"), JSON.stringify(config));
});

afterAll(() => {
  rmSync(tree, { recursive: true, force: true });
});

/** Lints one file at `path` (relative to the tree) holding `source`; resolves with the rule messages, if any. */
async function lint(path: string, source: string): Promise<{ ok: boolean; output: string }> {
  mkdirSync(dirname(join(tree, path)), { recursive: true });
  writeFileSync(join(tree, path), source);
  try {
    await promisify(execFile)(BIOME, ["lint", "--error-on-warnings", path], { cwd: tree });
    return { ok: true, output: "" };
  } catch (err) {
    const { stdout, stderr } = err as { stdout: string; stderr: string };
    return { ok: false, output: `${stdout}${stderr}` };
  }
}

describe("the import direction lint", () => {
  it.each([
    ["client/a.ts", 'import { createApp } from "../server/app.js";\n\nexport const a = createApp;\n'],
    [
      "web/pages/b.ts",
      'import { loadConfig } from "../../server/config.js";\n\nexport const b = loadConfig;\n',
    ],
    ["cli/c.ts", 'export { createApp } from "../server/app.js";\n'],
  ])("refuses %s importing server/", async (path, source) => {
    const result = await lint(path, source);
    expect(result.ok).toBe(false);
    expect(result.output).toContain("noRestrictedImports");
    expect(result.output).toContain("never by importing server/ code");
  });

  it("refuses server/logs/ importing the sandbox core, and server/http/ importing the handlers", async () => {
    const logs = await lint(
      "server/logs/d.ts",
      'import { notFound } from "../sandbox/errors.js";\n\nexport const d = notFound;\n',
    );
    expect(logs.output).toContain("server/logs/ stands apart from the sandbox core");
    const http = await lint(
      "server/http/e.ts",
      'import { callerKey } from "../service/caller.js";\n\nexport const e = callerKey;\n',
    );
    expect(http.output).toContain("server/http/ is plumbing under the handlers");
  });

  it.each([
    [
      "server/sandbox/i.ts",
      'import { toConnectError } from "../service/to-connect-error.js";\n\nexport const i = toConnectError;\n',
    ],
    [
      "server/sandbox/j.ts",
      'import { SandboxService } from "../../gen/claude_sandbox/v1/sandbox_service_pb.js";\n\nexport const j = SandboxService;\n',
    ],
    ["server/tools/k.ts", 'import { Code } from "@connectrpc/connect";\n\nexport const k = Code;\n'],
    ["server/sandbox/l.ts", 'import type { LogHub } from "../logs/log-hub.js";\n\nexport type L = LogHub;\n'],
  ])("refuses %s reaching into the API layers", async (path, source) => {
    expect((await lint(path, source)).output).toContain(
      "the sandbox core and its tools know nothing of the API",
    );
  });

  it.each([
    [
      "client/f.ts",
      'import { SandboxService } from "../gen/claude_sandbox/v1/sandbox_service_pb.js";\n\nexport const f = SandboxService;\n',
    ],
    ["server/logs/g.ts", 'import { DomainError } from "../errors.js";\n\nexport const g = DomainError;\n'],
    ["server/service/h.ts", 'import type { Caller } from "../http/caller.js";\n\nexport type H = Caller;\n'],
    [
      "server/sandbox/m.ts",
      'import { DomainError } from "../errors.js";\nimport { readFile } from "node:fs/promises";\n\nexport const m = [DomainError, readFile];\n',
    ],
  ])("lets %s import what it may", async (path, source) => {
    expect(await lint(path, source)).toEqual({ ok: true, output: "" });
  });
});
