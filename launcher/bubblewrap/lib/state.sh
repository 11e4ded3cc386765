# shellcheck shell=bash
# Per-project state dir, as the seed: ${XDG_STATE_HOME:-~/.local/state}/claude-sandbox/projects/
# <basename>-<12 hex of sha256(path + "\n")>, with a `path` file that detects hash collisions.
#
# Layout (host side):
#   path         the project path this dir belongs to
#   ns, ns.env   registry of the live sandbox (written by the launcher; NOT visible inside)
#   chromium/    Chromium profile (CHROMIUM_USER_DATA_DIR)
#   claude/      the project's own ~/.claude (mounts-claude.sh); claude.json.1 the filtered ~/.claude.json copy
#   local/{bin,lib,share}   persistent ~/.local/*
#   tmp/         the sandbox's /tmp (0700; its parent is the private state dir, never shared /tmp)
#   tmux.conf    created once, user-editable; read-only inside
#   tmux.d/      empty on the host; inside, a private dir for the agent's tmux server socket
#                (tmux.sock -> tmux.d/sock), which never appears on the host
# Inside, the state dir path shows only chromium/, local/, tmux.conf, tmux.d/ and tmux.sock: the rest
# (path, ns) stays out of reach so a sandbox cannot forge the registry the host launcher trusts.

csbx_init_state() {
  local state_home=${XDG_STATE_HOME:-$HOME/.local/state}
  [[ $state_home == /* ]] || csbx_die 1 "XDG_STATE_HOME must be an absolute path (got '$state_home')"
  state_root=$state_home/claude-sandbox
  local base=${project##*/}
  [[ -n $base ]] || base=root
  base=${base//[^A-Za-z0-9._-]/-}
  # sha256sum is the launcher's only fork before bwrap, and a fork+exec costs a few ms on a busy
  # machine, so the id is remembered per path (file name: the path with % and / escaped; checked
  # against the state dir's `path` file before use).
  local leaf=${project//%/%25} cached=''
  leaf=${leaf//\//%2F}
  local key=$state_root/ids/$leaf
  if ((${#leaf} <= 255)) && [[ -f $key ]]; then
    IFS= read -r cached <"$key" || cached=''
  fi
  if [[ -n $cached && $cached == "$base"-* ]]; then
    csbx_read_path "$state_root/projects/$cached/path"
    [[ $csbx_recorded == "$project" ]] || cached=''
  fi
  if [[ -n $cached ]]; then
    project_id=$cached
  else
    local sum
    sum=$(sha256sum <<<"$project")
    project_id=$base-${sum:0:12}
  fi
  project_base=$base
  state=$state_root/projects/$project_id

  if [[ ! -d $state/tmux.d ]]; then
    # Parents as the user's umask makes them; everything from the state root down is private.
    mkdir -p -- "$state_home" || csbx_die 1 "cannot create '$state_home'; check permissions or set XDG_STATE_HOME"
    local d
    # Another launcher may be creating the same dirs right now (concurrent first launches): a dir that
    # exists once mkdir has failed is fine.
    for d in "$state_root" "$state_root/projects" "$state" "$state/chromium" "$state/local" \
      "$state/local/bin" "$state/local/lib" "$state/local/share" "$state/tmux.d"; do
      [[ -d $d ]] || mkdir -m 0700 -- "$d" 2>/dev/null || [[ -d $d ]] ||
        csbx_die 1 "cannot create state dir '$d'; check permissions"
    done
  fi
  [[ -O $state_root && -O $state ]] ||
    csbx_die 1 "state dir '$state' is not owned by you (uid $EUID); remove it or set XDG_STATE_HOME"
  if [[ ! -e $state_root/CACHEDIR.TAG ]]; then
    printf '%s\n' 'Signature: 8a477f597d28d172789f06886806bc55' \
      '# This file is a cache directory tag created by claude-sandbox.' \
      '# For information about cache directory tags, see: https://bford.info/cachedir/' |
      csbx_write_atomic "$state_root/CACHEDIR.TAG"
  fi
  if [[ -e $state/path ]]; then
    csbx_read_path "$state/path"
    if [[ $csbx_recorded != "$project" ]]; then
      csbx_die 1 "state directory hash collision: '$state' belongs to '$csbx_recorded', not '$project'; move one of the projects or remove that state dir"
    fi
  else
    printf '%s\n' "$project" | csbx_write_atomic "$state/path"
  fi
  if [[ ! -e $state/tmux.conf ]]; then
    # The seed's look: orange status bar so a sandboxed session is recognisable at a glance.
    printf '%s\n' '# tmux config for this project'"'"'s sandbox (created once by claude-sandbox; edit freely).' \
      'set -g mouse on' \
      'set -g default-terminal "tmux-256color"' \
      'set -g status-left "[#S] "' \
      'set -g status-left-length 40' \
      'set -g status-style "bg=colour208,fg=black"' \
      'set -g status-left-style "bg=colour166,fg=black"' |
      csbx_write_atomic "$state/tmux.conf"
  fi
  if [[ -z $cached ]] && ((${#leaf} <= 255)); then
    [[ -d $state_root/ids ]] || mkdir -m 0700 -- "$state_root/ids" 2>/dev/null || true
    printf '%s\n' "$project_id" | csbx_write_atomic "$key" 2>/dev/null || true
  fi
  return 0
}

# Sets csbx_recorded to the project path recorded in file $1 (a path may hold line breaks, so the whole
# file minus its final newline), or '' when it cannot be read.
csbx_read_path() {
  csbx_recorded=''
  [[ -f $1 ]] || return 0
  IFS= read -r -d '' csbx_recorded <"$1" || true
  csbx_recorded=${csbx_recorded%$'\n'}
}

# csbx_write_atomic FILE: stdin to FILE through a temp file and a rename, so a concurrent launcher
# reads either nothing or the whole file, never a half-written one. Runs on first launches only.
csbx_write_atomic() {
  local tmp=$1.tmp.$BASHPID
  if cat >"$tmp" && mv -f -- "$tmp" "$1"; then return 0; fi
  rm -f -- "$tmp"
  return 1
}
