# shellcheck shell=bash
# The sandbox spec (launcher/sandbox-spec.json, shared with Nix). jq costs ~25 ms to start, more than
# bwrap itself, so its output is cached in the state root and jq runs again only when the spec changes.

# Output of the single jq call: NUL-terminated records. First the sizes of the lists, so loading is one
# mapfile and array slices; then each list in that order; then the policy and the notice. Entries that
# are not plain relative names never reach the cache.
# shellcheck disable=SC2016 # jq's own $variables
csbx_spec_jq='
  def names: [.[] | select(type == "string" and length > 0 and (startswith("/") | not) and (contains("..") | not))];
  (.hostEtcPaths | names) as $etc
  | (.envAllowlist | names) as $env
  | (.envWithGhToken | names) as $gh
  | (.claudeReadOnly | names) as $ro
  | ([$etc, $env, $gh, $ro] | map(length | tostring) | join(" ")),
    ($etc[], $env[], $gh[], $ro[]),
    (.chromium.policy | tojson),
    (.notices.sandbox + "\n\n" + .notices.persistence)
  | . + "\u0000"'

csbx_load_spec() {
  local spec=${CLAUDE_SANDBOX_SPEC:-$csbx_dir/../sandbox-spec.json}
  [[ -r $spec ]] || csbx_die 1 "sandbox spec '$spec' is missing or unreadable; reinstall claude-sandbox or point CLAUDE_SANDBOX_SPEC at the spec JSON"
  local cache=$state_root/spec.cache records=()
  if [[ -s $cache && $cache -nt $spec ]]; then
    mapfile -d '' -t records <"$cache"
  fi
  # The first record names the cache format and the spec the cache was made from, so switching
  # CLAUDE_SANDBOX_SPEC, or a launcher that writes another format, reloads.
  local src="src3"$'\x1f'"$spec" sizes='^[0-9]+( [0-9]+){3}$'
  if ((${#records[@]} < 2)) || [[ ${records[0]} != "$src" || ! ${records[1]} =~ $sizes ]]; then
    command -v jq >/dev/null || csbx_die 1 "jq is not installed; install it (Debian: apt-get install jq)"
    if ! { printf '%s\0' "$src" && jq -j "$csbx_spec_jq" -- "$spec"; } >"$cache.$$"; then
      rm -f -- "$cache.$$"
      csbx_die 1 "cannot read sandbox spec '$spec' (not valid JSON or a required key is missing)"
    fi
    mv -f -- "$cache.$$" "$cache"
    mapfile -d '' -t records <"$cache"
  fi
  # records: src, sizes, the four lists, policy, notice.
  [[ ${records[1]-} =~ $sizes ]] || csbx_die 1 "sandbox spec cache '$cache' is damaged; remove it and run again"
  local n=() i=2
  read -r -a n <<<"${records[1]}"
  spec_etc=("${records[@]:i:n[0]}")
  i=$((i + n[0]))
  spec_env=("${records[@]:i:n[1]}")
  i=$((i + n[1]))
  spec_ghenv=("${records[@]:i:n[2]}")
  i=$((i + n[2]))
  spec_claude_ro=("${records[@]:i:n[3]}")
  i=$((i + n[3]))
  spec_policy=${records[i]-}
  spec_notice=${records[i + 1]-}
}
