import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  PROTECTED_PATHS_JSON,
  PROTECTED_PATHS_SH,
  parseProtectedPaths,
  protectedPaths,
  renderProtectedPathsShell,
} from "../../server/sandbox/protected-paths.js";

describe("the shared list of protected project paths", () => {
  it("the launcher's bash copy is the JSON rendered (run `npm run protected-paths` after editing the JSON)", () => {
    expect(readFileSync(PROTECTED_PATHS_SH, "utf8")).toBe(renderProtectedPathsShell(protectedPaths()));
  });

  it("holds what the issue found accepted, as the manager reads it", () => {
    const list = protectedPaths();
    expect(list.system).toEqual(expect.arrayContaining(["/etc", "/usr", "/var/log", "/run"]));
    expect(list.holders).toEqual(expect.arrayContaining(["/home", "/opt", "/srv", "/mnt", "/tmp", "/var"]));
    expect(list.home).toEqual(expect.arrayContaining([".ssh", ".claude", ".config/gh"]));
  });

  it.each([
    [{ system: { paths: ["etc"] } }, 'system.paths entry "etc" must be an absolute path'],
    [{ holders: { paths: ["/tmp/../etc"] } }, "without . or .. components"],
    [{ home: { paths: ["/root/.ssh"] } }, "must be a relative path"],
    [{ home: { paths: [".ssh dir"] } }, "plain names"],
    [{ system: { paths: "/etc" } }, "system.paths must be a list of paths"],
  ])("refuses an entry that is not a plain path: %j", (override, problem) => {
    const json = JSON.parse(readFileSync(PROTECTED_PATHS_JSON, "utf8"));
    expect(() => parseProtectedPaths(JSON.stringify({ ...json, ...override }), "list.json")).toThrow(problem);
  });
});
