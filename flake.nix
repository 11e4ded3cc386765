{
  description = "claude-sandbox: many Claude Code agents in real isolation, watched from a laptop";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  # Wiring only; the derivations live in nix/. NixOS modules and VM/container backends come with their issues.
  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f (import nixpkgs {
        inherit system;
        config.allowUnfree = true; # claude-code
      }));
    in
    {
      packages = forAll (pkgs: rec {
        claude-sandbox = pkgs.callPackage ./nix/package.nix { };
        default = claude-sandbox;
      });
      devShells = forAll (pkgs: {
        default = pkgs.mkShell {
          packages = with pkgs; [ nodejs_20 buf tmux xorg.xorgserver xorg.xauth bubblewrap passt jq shellcheck ];
        };
      });
      checks = forAll (pkgs: {
        package = self.packages.${pkgs.system}.default;
      });
    };
}
