// The manager finds a sandbox's transcripts under the name the launcher binds into it: both must derive the
// same name from a project path, and that name must be Claude Code's.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { claudeProjectKey } from "../../server/claude-usage/project-key.js";

const MOUNTS_CLAUDE = join(import.meta.dirname, "../../launcher/bubblewrap/lib/mounts-claude.sh");

/** The launcher's own function, run on each path (NUL-separated in and out). */
function launcherKeys(paths: string[]): string[] {
  const script = `source "$1"; while IFS= read -r -d '' project; do csbx_claude_project_key; printf '%s\\0' "$csbx_claude_key"; done`;
  const out = execFileSync("bash", ["-c", script, "bash", MOUNTS_CLAUDE], {
    input: paths.map((p) => `${p}\0`).join(""),
    encoding: "utf8",
  });
  return out.split("\0").slice(0, -1);
}

const TRICKY = [
  "/home/dev/project",
  "/home/dev/my_proj.v2/with space",
  "/home/u/my_proj/.x",
  "/srv/a-b/c--d/_/.../~tilde/+plus/@at/%pc/=eq/,comma",
  "/home/dev/Ünïcödé/日本語/😀emoji",
  "/tmp/trailing/",
  `/deep/${"segment_".repeat(30)}`,
  `/deep/${"x".repeat(194)}`,
  `/deep/${"x".repeat(195)}`,
  `/deep/${"ü".repeat(250)}/😀`,
  "/quotes/'single'/\"double\"/back\\slash/$dollar/`tick`",
];

describe("Claude Code's project key", () => {
  it("replaces every character but an ASCII letter or digit with '-', without collapsing runs", () => {
    expect(claudeProjectKey("/home/dev/my_proj.v2/with space")).toBe("-home-dev-my-proj-v2-with-space");
    expect(claudeProjectKey("/home/u/my_proj/.x")).toBe("-home-u-my-proj--x");
    // One '-' per UTF-16 unit: an emoji (a surrogate pair) becomes two.
    expect(claudeProjectKey("/a/é😀")).toBe("-a----");
  });

  it("cuts names over 200 characters and appends a base-36 hash of the whole path", () => {
    const key = claudeProjectKey(`/deep/${"x".repeat(195)}`);
    expect(key.slice(0, 200)).toBe(`-deep-${"x".repeat(194)}`);
    expect(key).toMatch(/^.{200}-[0-9a-z]+$/);
    expect(claudeProjectKey(`/deep/${"x".repeat(194)}`)).toHaveLength(200);
  });

  it("is the launcher's, on tricky paths", () => {
    expect(TRICKY.map(claudeProjectKey)).toEqual(launcherKeys(TRICKY));
  });
});
