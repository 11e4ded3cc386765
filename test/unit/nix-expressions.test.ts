import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

// Nix cannot build here, but Debian's nix-instantiate parses and evaluates: enough to keep every expression
// valid and to prove Nix reads the very spec the launcher reads.
const root = join(import.meta.dirname, "..", "..");
const nixFiles = [
  "flake.nix",
  ...readdirSync(join(root, "nix"))
    .filter((f) => f.endsWith(".nix"))
    .map((f) => `nix/${f}`),
];

function nixEvalJson(expr: string): unknown {
  const out = execFileSync("nix-instantiate", ["--eval", "--strict", "--json", "-E", expr], {
    cwd: root,
    encoding: "utf8",
  });
  return JSON.parse(out);
}

describe("Nix expressions", () => {
  it.each(nixFiles)("%s parses", (file) => {
    expect(() =>
      execFileSync("nix-instantiate", ["--parse", join(root, file)], { stdio: "pipe" }),
    ).not.toThrow();
  });

  it("nix/sandbox-spec.nix reads the launcher's spec unchanged", () => {
    const spec = JSON.parse(readFileSync(join(root, "launcher", "sandbox-spec.json"), "utf8"));
    const fromNix = nixEvalJson(
      "let s = import ./nix/sandbox-spec.nix { }; in { inherit (s) hostEtcPaths envAllowlist chromium notices; packages = s.packageNames; }",
    );
    expect(fromNix).toEqual({
      hostEtcPaths: spec.hostEtcPaths,
      envAllowlist: spec.envAllowlist,
      chromium: spec.chromium,
      notices: spec.notices,
      packages: spec.packages,
    });
  });
});
