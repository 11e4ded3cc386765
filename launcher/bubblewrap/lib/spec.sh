# shellcheck shell=bash
# The sandbox spec (launcher/sandbox-spec.json, shared with Nix). jq costs ~25 ms to start, more than
# bwrap itself, so its output is cached in the state root and jq runs again only when the spec changes.

# Output of the single jq call: NUL-terminated "kind<US>value" records.
csbx_spec_jq='
  ("etc\u001f" + .hostEtcPaths[]),
  ("env\u001f" + .envAllowlist[]),
  ("ghenv\u001f" + .envWithGhToken[]),
  ("claudero\u001f" + .claudeReadOnly[]),
  ("claudeopt\u001f" + .claudeReadOnlyIfPresent[]),
  ("claudepriv\u001f" + .claudePrivate[]),
  ("policy\u001f" + (.chromium.policy | tojson)),
  ("notice\u001f" + .notices.sandbox + "\n\n" + .notices.persistence)
  | . + "\u0000"'

csbx_load_spec() {
  local spec=${CLAUDE_SANDBOX_SPEC:-$csbx_dir/../sandbox-spec.json}
  [[ -r $spec ]] || csbx_die 1 "sandbox spec '$spec' is missing or unreadable; reinstall claude-sandbox or point CLAUDE_SANDBOX_SPEC at the spec JSON"
  local cache=$state_root/spec.cache records=()
  if [[ -s $cache && $cache -nt $spec ]]; then
    mapfile -d '' -t records <"$cache"
  fi
  # The first record names the spec the cache was made from, so switching CLAUDE_SANDBOX_SPEC reloads.
  if ((${#records[@]} == 0)) || [[ ${records[0]} != "src"$'\x1f'"$spec" ]]; then
    command -v jq >/dev/null || csbx_die 1 "jq is not installed; install it (Debian: apt-get install jq)"
    if ! { printf 'src\x1f%s\0' "$spec" && jq -j "$csbx_spec_jq" -- "$spec"; } >"$cache.$$"; then
      rm -f -- "$cache.$$"
      csbx_die 1 "cannot read sandbox spec '$spec' (not valid JSON or a required key is missing)"
    fi
    mv -f -- "$cache.$$" "$cache"
    mapfile -d '' -t records <"$cache"
  fi
  spec_etc=() spec_env=() spec_ghenv=() spec_claude_ro=() spec_claude_ro_opt=() spec_claude_private=() spec_policy='' spec_notice=''
  local r
  for r in "${records[@]:1}"; do
    case ${r%%$'\x1f'*} in
      etc) spec_etc+=("${r#*$'\x1f'}") ;;
      env) spec_env+=("${r#*$'\x1f'}") ;;
      ghenv) spec_ghenv+=("${r#*$'\x1f'}") ;;
      claudero) spec_claude_ro+=("${r#*$'\x1f'}") ;;
      claudeopt) spec_claude_ro_opt+=("${r#*$'\x1f'}") ;;
      claudepriv) spec_claude_private+=("${r#*$'\x1f'}") ;;
      policy) spec_policy=${r#*$'\x1f'} ;;
      notice) spec_notice=${r#*$'\x1f'} ;;
    esac
  done
}
