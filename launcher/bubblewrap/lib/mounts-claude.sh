# shellcheck shell=bash
# ~/.claude and ~/.claude.json inside the sandbox (sourced by mounts.sh).
#
# Claude Code reads much of ~/.claude as configuration, and runs part of it: settings and their hooks, a
# global config (.config.json, whose user-scope MCP servers start without asking), plugins, workflows, a
# locally installed claude (local/), and names it has yet to invent. A sandbox that could write the host's
# ~/.claude could leave there what the host's claude, or the agent of another project's sandbox, runs
# next. So inside, ~/.claude is the project's own directory ($state/claude, 0700, kept between runs and
# shared by every sandbox of the project, --new ones included), and of the host's ~/.claude it shows only:
#   - the spec's claudeReadOnly entries that exist (the user's own configuration), read-only;
#   - the scripts the user's settings name under ~/.claude, read-only;
#   - this project's sessions, projects/<key>, read-write, where the host's claude --resume looks;
#   - the login, .credentials.json, read-write, only when the user chooses to share it.
# Whatever else the agent writes there (its prompt history, todos, its own config) stays with the project;
# whatever else the host keeps there (every project's prompt history, other projects' sessions, todos and
# file history) is absent. Nothing of the host's ~/.claude is moved, changed or deleted.
#
# No sandbox can write the host's ~/.claude outside projects/<key> any more, so its entries are bound by
# path (a symlink there is the user's own and is followed). The mount points lie in the project's own
# directory, which its sandboxes write: each is checked first (csbx_claude_dest).

csbx_fs_claude() {
  local c=$HOME/.claude priv=$state/claude name src
  csbx_claude_private
  bw+=(--bind "$priv" "$c")
  local -A shown=()
  for name in "${spec_claude_ro[@]}"; do
    # Plain names only: a dot-name (.credentials.json, .config.json) is never the user's configuration.
    [[ $name != */* && $name != .* ]] || continue
    src=$c/$name
    if [[ -d $src ]]; then
      csbx_claude_dest "$name" dir
    elif [[ -e $src ]]; then
      csbx_claude_dest "$name" file
    else
      continue
    fi
    bw+=(--ro-bind "$src" "$c/$name")
    shown[$name]=1
  done
  csbx_claude_scripts
  csbx_claude_sessions
  csbx_claude_login
  csbx_claude_json
}

# The project's own ~/.claude. Earlier versions kept a per-project shell-snapshots, session-env and
# file-history beside it in the state dir: they move in on its first use (file history is what /rewind
# restores from).
csbx_claude_private() {
  [[ -d $priv ]] && return 0
  mkdir -m 0700 -- "$priv" 2>/dev/null || [[ -d $priv ]] || csbx_die 1 "cannot create $priv; check permissions"
  for name in shell-snapshots session-env file-history; do
    if [[ -d $state/claude-$name && ! -L $state/claude-$name && ! -e $priv/$name ]]; then
      mv -T -- "$state/claude-$name" "$priv/$name" 2>/dev/null || true
    fi
  done
}

# csbx_claude_dest REL dir|file: makes $priv/REL fit to be the mount point of a dir or file. bwrap
# follows a symlink in a mount point's path (it would mount, or create an empty file, where the link
# points), and fails on one of the wrong type. The sandbox may have left either in its own directory,
# so such an entry is moved aside (it is the project's own data: renamed, never deleted).
csbx_claude_dest() {
  local rest=$1 kind=$2 at=$priv part
  while [[ -n $rest ]]; do
    part=${rest%%/*}
    [[ $part == "$rest" ]] && rest='' || rest=${rest#*/}
    at=$at/$part
    if [[ -L $at ]] || { [[ -n $rest || $kind == dir ]] && [[ -e $at && ! -d $at ]]; } ||
      { [[ -z $rest && $kind == file ]] && [[ -d $at ]]; }; then
      mv -T -- "$at" "$at.moved-by-claude-sandbox-$EPOCHSECONDS" ||
        csbx_die 1 "cannot move $at aside to show the host's ~/.claude/${1} there; move it yourself"
      csbx_note "moved $at aside (to $at.moved-by-claude-sandbox-$EPOCHSECONDS): the host's ~/.claude/${1} is shown there"
      return 0
    fi
    [[ -e $at ]] || return 0
  done
}

# Scripts that settings.json runs (statusLine, hooks) by a path under ~/.claude: the agent's claude runs
# the user's settings too, so they are shown, read-only. The ways a settings file names the home directory
# (a JSON string may quote $HOME as \"$HOME\") are all turned into ~ first. Only script-like paths: not a
# dot-name, not JSON data, nothing under projects/ (a command that reads history.jsonl or another project's
# transcript does not make them the sandbox's to read).
csbx_claude_scripts() {
  # shellcheck disable=SC2088 # literal text of settings files, not paths to expand
  local f text rel re='~/\.claude/([A-Za-z0-9._/-]+)' tilde='~/.claude/' form
  # shellcheck disable=SC2016 # the same
  local forms=('$HOME/.claude/' '${HOME}/.claude/' '"$HOME"/.claude/' '"${HOME}"/.claude/'
    '\"$HOME\"/.claude/' '\"${HOME}\"/.claude/')
  for f in "$c/settings.json" "$c/settings.local.json"; do
    [[ -s $f ]] || continue
    IFS= read -r -d '' text <"$f" || true
    text=${text//"$HOME/.claude/"/"$tilde"}
    for form in "${forms[@]}"; do
      text=${text//"$form"/"$tilde"}
    done
    while [[ $text =~ $re ]]; do
      rel=${BASH_REMATCH[1]}
      text=${text#*"${BASH_REMATCH[0]}"}
      rel=${rel%/}
      [[ -n $rel && -z ${shown[$rel]-} && -z ${shown[${rel%%/*}]-} ]] || continue
      [[ $rel != .* && $rel != */.* && $rel != *.json && $rel != *.jsonl && $rel != projects/* ]] || continue
      [[ -f $c/$rel ]] || continue
      csbx_claude_dest "$rel" file
      bw+=(--ro-bind "$c/$rel" "$c/$rel")
      shown[$rel]=1
    done
  done
}

# This project's sessions, in the host's ~/.claude/projects/<key>: the host's claude --resume and the
# manager find them there. Other projects' are not in the project's own projects/.
csbx_claude_sessions() {
  local dir=$c/projects key
  csbx_claude_project_key
  key=$dir/$csbx_claude_key
  # Concurrent launches create these too: a dir that exists after a failed mkdir is fine.
  [[ -d $c ]] || mkdir -m 0700 -- "$c" 2>/dev/null || [[ -d $c ]] || csbx_die 1 "cannot create $c; check that HOME is writable"
  [[ -d $dir ]] || mkdir -m 0700 -- "$dir" 2>/dev/null || [[ -d $dir ]] || csbx_die 1 "cannot create $dir"
  if [[ -L $key ]]; then
    csbx_warn "$key is a symlink, so this project's Claude sessions stay in the sandbox's own ~/.claude"
    return 0
  fi
  [[ -d $key ]] || mkdir -m 0700 -- "$key" 2>/dev/null || [[ -d $key ]] || csbx_die 1 "cannot create $key"
  csbx_claude_dest "projects/$csbx_claude_key" dir
  bw+=(--bind "$key" "$key")
}

# The login. Claude Code keeps its OAuth tokens in ~/.claude/.credentials.json and replaces the refresh
# token each time it refreshes, so a login cannot be copied (the first copy to refresh logs out the other)
# and a read-only view ends the same way. By default a project therefore has a login of its own, in its
# own ~/.claude: log in once inside; no sandbox reads or changes the host's login, and no project another
# one's. An account for every sandbox without that: CLAUDE_CODE_OAUTH_TOKEN (claude setup-token) or
# ANTHROPIC_API_KEY, which pass in from the environment. CLAUDE_SANDBOX_SHARE_LOGIN=1 binds the host's
# file read-write instead, as before: one login for the host and every sandbox that
# shares it, and a sandbox can then also read it or replace it with another account's. Claude Code writes
# it in place when the rename onto the bound file fails (EBUSY). A host that has none gets an empty one
# (0600, "not logged in" to claude) for a login inside to land in.
csbx_claude_login() {
  local share=0 cred=$c/.credentials.json
  case ${CLAUDE_SANDBOX_SHARE_LOGIN-} in
    '' | 0) ;;
    1) share=1 ;;
    *) csbx_die 2 "CLAUDE_SANDBOX_SHARE_LOGIN must be 1 (share the host's Claude login) or 0, not '${CLAUDE_SANDBOX_SHARE_LOGIN}'" ;;
  esac
  if ((share)); then
    if [[ ! -e $cred && ! -L $cred ]]; then
      # noclobber creates with O_EXCL; once per host, so the subshell for the umask does not matter.
      (umask 077 && set -C && : >"$cred") 2>/dev/null || true
    fi
    [[ -f $cred ]] || csbx_die 1 "cannot share the host's Claude login: $cred is not a file"
    csbx_claude_dest .credentials.json file
    bw+=(--bind "$cred" "$c/.credentials.json")
    return 0
  fi
  # Said once per project, when the host has a login the sandbox no longer borrows.
  if ((!opt_shell)) && [[ -s $cred && ! -s $priv/.credentials.json && ! -e $state/login-noted ]] &&
    [[ -z ${ANTHROPIC_API_KEY-}${CLAUDE_CODE_OAUTH_TOKEN-} ]]; then
    csbx_note "this project's sandbox keeps a Claude login of its own: log in once inside (/login). For one login in every sandbox set CLAUDE_CODE_OAUTH_TOKEN (from 'claude setup-token'), or set CLAUDE_SANDBOX_SHARE_LOGIN=1 to share your host login read-write (a sandbox could then also replace it)"
    : >"$state/login-noted" || true
  fi
}

# ~/.claude.json (Claude Code's global config: user-scope MCP servers, onboarding, one entry per project)
# is copied in, not bound: claude rewrites it often, by rename, and a bind of a replaced file goes stale
# (the seed's lesson); what the agent's claude writes to it is lost. Other projects' entries are left out
# of the copy: they hold their local-scope MCP servers (with their tokens), allowed tools and, in older
# versions, prompt history. Filtering takes jq (~20 ms), so the result is kept in the state dir (out of the
# sandbox's reach) and made again only when the host's file is newer (a change made while jq runs waits for
# the host's next write, which claude makes often).
# shellcheck disable=SC2016 # jq's own $p
csbx_claude_json_jq='def mine: . == $p or startswith($p + "/");
  if type == "object" then
    (if (.projects | type) == "object" then .projects |= with_entries(select(.key | mine)) else . end)
    | (if (.githubRepoPaths | type) == "object" then .githubRepoPaths |= with_entries(
        .value |= (if type == "array" then map(select(type == "string" and mine)) else [] end)
        | select(.value | length > 0)) else . end)
  else . end'

csbx_claude_json() {
  local src=$HOME/.claude.json cache=$state/claude.json.1 fd tmp
  [[ -f $src ]] || return 0
  if [[ ! -f $cache || $src -nt $cache ]]; then
    tmp=$cache.$BASHPID
    if command -v jq >/dev/null && jq --arg p "$project" "$csbx_claude_json_jq" -- "$src" >"$tmp" 2>/dev/null; then
      mv -f -- "$tmp" "$cache"
    else
      rm -f -- "$tmp"
      if [[ -f $cache ]]; then
        csbx_warn "cannot read $src (not valid JSON, or jq is missing); the sandbox gets the copy of its last good version"
      else
        csbx_warn "cannot read $src (not valid JSON, or jq is missing); the sandbox gets no copy of it"
        return 0
      fi
    fi
  fi
  exec {fd}<"$cache"
  bw+=(--perms 0600 --file "$fd" "$HOME/.claude.json")
}

# Sets csbx_claude_key to Claude Code's name for the project's directory under ~/.claude/projects: the
# path with every character but an ASCII letter or digit replaced by '-' (one per UTF-16 code unit); a
# name longer than 200 is cut at 200 and followed by '-' and the base-36 absolute value of a 32-bit hash
# of the path's UTF-16 units (h = h * 31 + unit, wrapping), as Claude Code names it.
csbx_claude_project_key() {
  local LC_ALL=C.UTF-8 p=$project key i ch cp units=()
  if [[ $p =~ [^\ -~] ]]; then
    key=''
    for ((i = 0; i < ${#p}; i++)); do
      ch=${p:i:1}
      printf -v cp '%d' "'$ch"
      if ((cp > 0xFFFF)); then
        units+=($((0xD800 + ((cp - 0x10000) >> 10))) $((0xDC00 + ((cp - 0x10000) & 0x3FF))))
        key+=--
      else
        units+=("$cp")
        [[ $ch == [a-zA-Z0-9] ]] && key+=$ch || key+=-
      fi
    done
  else
    key=${p//[^a-zA-Z0-9]/-}
    if ((${#key} > 200)); then
      for ((i = 0; i < ${#p}; i++)); do
        printf -v cp '%d' "'${p:i:1}"
        units+=("$cp")
      done
    fi
  fi
  if ((${#key} > 200)); then
    local h=0 u digits=0123456789abcdefghijklmnopqrstuvwxyz b36=''
    for u in "${units[@]}"; do
      h=$((((h << 5) - h + u) & 0xFFFFFFFF))
    done
    ((h >= 0x80000000)) && h=$((0x100000000 - h))
    while :; do
      b36=${digits:h % 36:1}$b36
      h=$((h / 36))
      ((h > 0)) || break
    done
    key=${key:0:200}-$b36
  fi
  csbx_claude_key=$key
}
