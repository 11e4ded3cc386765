# claude-sandbox: the manager daemon (compiled TypeScript) and the bubblewrap launcher (bash), with the tools
# each needs on PATH. Dependencies come from package-lock.json through importNpmLock, so no hash needs updating
# when the lock file changes.
{ lib, buildNpmPackage, importNpmLock, makeWrapper, nodejs_20, bubblewrap, passt, xdg-dbus-proxy, jq, tmux
, xorg, xauth ? xorg.xauth, util-linux, coreutils, iproute2, chromium, pkgs }:
let
  spec = import ./sandbox-spec.nix { inherit pkgs; };
in
buildNpmPackage {
  pname = "claude-sandbox";
  version = (builtins.fromJSON (builtins.readFile ../package.json)).version;
  src = lib.cleanSource ../.;
  nodejs = nodejs_20;
  npmDeps = importNpmLock { npmRoot = ../.; };
  npmConfigHook = importNpmLock.npmConfigHook;
  nativeBuildInputs = [ makeWrapper ];
  # gen/ is committed, so the build never runs buf.
  npmBuildScript = "build";
  postInstall = ''
    wrapProgram $out/bin/claude-sandbox \
      --set CLAUDE_SANDBOX_SPEC $out/lib/node_modules/claude-sandbox/launcher/sandbox-spec.json \
      --prefix PATH : ${lib.makeBinPath ([ bubblewrap passt xdg-dbus-proxy jq util-linux coreutils iproute2 chromium ] ++ spec.packages)}
    wrapProgram $out/bin/claude-sandbox-manager \
      --prefix PATH : ${lib.makeBinPath [ tmux xorg.xorgserver xauth util-linux coreutils ]}:$out/bin
  '';
  meta = {
    description = "Run many Claude Code agents in real isolation and watch them from a laptop";
    license = lib.licenses.mit;
    platforms = lib.platforms.linux;
    mainProgram = "claude-sandbox-manager";
  };
}
