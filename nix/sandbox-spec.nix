# The sandbox spec, read from the same JSON file the launcher reads (launcher/sandbox-spec.json), so Nix and the
# launcher can never disagree about what a sandbox needs.
# `pkgs` is optional so the spec can be evaluated on its own (nix-instantiate --eval) without a nixpkgs.
{ pkgs ? null }:
let
  spec = builtins.fromJSON (builtins.readFile ../launcher/sandbox-spec.json);
  # Spec names that differ from their nixpkgs attribute.
  attrOf = name: {
    "claude-code" = "claude-code";
    "yq-go" = "yq-go";
    "netcat-gnu" = "netcat-gnu";
  }.${name} or name;
in
spec // {
  packageNames = spec.packages;
  # The packages the Nix build puts on the sandbox PATH.
  packages = if pkgs == null then [ ] else map (name: pkgs.${attrOf name}) spec.packages;
  # The managed Chromium policy, as a store file the launcher is pointed at.
  chromiumPolicy =
    if pkgs == null then null
    else pkgs.writeText "claude-sandbox-chromium-policy.json" (builtins.toJSON spec.chromium.policy);
}
