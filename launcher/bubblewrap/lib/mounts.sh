# shellcheck shell=bash
# The sandbox's filesystem, as bwrap arguments in `bw`. Order matters: a mount must come after the
# mount that holds its mount point. Everything not listed here does not exist inside (bwrap's root is an
# empty tmpfs, private to the sandbox).
#
# Every mount costs bwrap a syscall round and a walk of the mount table, about 0.15 ms each here: what
# the sandbox needs as a directory or file of its own goes on a tmpfs that exists anyway (the root,
# /dev, /etc, the home tmpfs), and small read-only content is copied in (bwrap --file) rather than
# bound, wherever that changes nothing the sandbox could use against the host.

csbx_fs_system() {
  # bwrap covers /proc/sys only when it is writable for the caller, which its 0555 directory never
  # is; but root-owned sysctl files are writable to a sandbox started by root (its uid 0 is the host's).
  # /dev/shm is a directory of bwrap's own /dev tmpfs: never the host's.
  bw+=(--proc /proc --ro-bind /proc/sys /proc/sys --dev /dev)
  # Debian merges /usr: /bin, /lib*, /sbin are symlinks into it. Mirror what the host has.
  bw+=(--ro-bind /usr /usr)
  local d
  for d in bin sbin lib lib32 lib64 libx32; do
    if [[ -L /$d ]]; then
      bw+=(--symlink "usr/$d" "/$d")
    elif [[ -d /$d ]]; then
      bw+=(--ro-bind "/$d" "/$d")
    fi
  done
  if [[ -d /nix/store ]]; then
    bw+=(--ro-bind /nix/store /nix/store)
  fi
  bw+=(--dev-bind-try /dev/dri /dev/dri)
  csbx_fs_etc
  # /tmp is per project; its host dir sits in the private (0700) state dir, never in shared /tmp.
  bw+=(--bind "$state/tmp" /tmp --perms 0755 --dir /var --symlink ../tmp /var/tmp)
  bw+=(--perms 0755 --dir /run --perms 0700 --dir "$sbx_runtime_dir")
}

# /etc: only what the spec lists, on a tmpfs that is made read-only once complete (csbx_build_mounts).
# Files are copied in (bwrap --file), directories bound; copies of the thirty-odd small files cost
# next to nothing where binds would cost a mount each. A copy is what a bind of a file gives anyway
# once the host replaces it by rename, as resolver and account tools do. Symlinks are followed on the host (resolv.conf often points into /run), so the
# sandbox gets the content, not a dangling link. What cannot be read is left out.
csbx_fs_etc() {
  bw+=(--perms 0755 --tmpfs /etc)
  local e fd
  # Entries are plain relative names without "..": the spec loader keeps no others.
  for e in "${spec_etc[@]}"; do
    if [[ -f /etc/$e && -r /etc/$e ]]; then
      exec {fd}<"/etc/$e" || continue
      [[ $e != */* ]] || bw+=(--dir "/etc/${e%/*}")
      bw+=(--perms 0444 --file "$fd" "/etc/$e")
    elif [[ -e /etc/$e ]]; then
      bw+=(--ro-bind-try "/etc/$e" "/etc/$e")
    fi
  done
}

# A host directory or file the sandbox may read, when it exists. Dangling binds must not fail the
# launch (seed bug: an X socket left behind by a restarted server did).
csbx_ro_if_exists() {
  if [[ -e $1 ]]; then bw+=(--ro-bind "$1" "${2:-$1}"); fi
}

csbx_fs_home() {
  bw+=(--perms 0700 --tmpfs "$HOME")
  csbx_fs_claude
  csbx_ro_if_exists "$HOME/.gitconfig"
  csbx_ro_if_exists "$HOME/.config/git"
  csbx_ro_if_exists "$HOME/.config/gh"
  if ((opt_ssh_keys)); then
    csbx_ro_if_exists "$HOME/.ssh"
  else
    csbx_ro_if_exists "$HOME/.ssh/config"
    csbx_ro_if_exists "$HOME/.ssh/known_hosts"
  fi
  local d
  for d in bin lib share; do
    bw+=(--bind "$state/local/$d" "$HOME/.local/$d")
  done
  # The state dir inside shows only what the sandbox needs; the registry (ns) stays invisible. The tmux
  # socket dir exists only inside: the agent controls that server, and a host tmux client attached to it
  # could be made to run commands, so the host gets no socket to point one at. Nothing bwrap creates
  # there may land on the host: in the default place (~/.local/state) the state dir is a directory of
  # the home tmpfs; anywhere else (XDG_STATE_HOME may even lie under the sandbox's /tmp, where a symlink
  # left behind would fail the next run) it gets a tmpfs of its own. tmux.conf is a copy: the user edits
  # it on the host, and the sandbox's tmux reads it at start.
  if [[ $state == "$HOME"/.local/state/* ]]; then
    bw+=(--perms 0700 --dir "$state")
  else
    bw+=(--perms 0700 --tmpfs "$state")
  fi
  local fd
  exec {fd}<"$state/tmux.conf"
  bw+=(--bind "$state/chromium" "$state/chromium"
    --perms 0444 --file "$fd" "$state/tmux.conf"
    --perms 0700 --dir "$state/tmux.d"
    --symlink tmux.d/sock "$state/tmux.sock")
}

# Claude Code keeps a project's sessions in ~/.claude/projects/<key>; other projects' transcripts are none
# of this sandbox's business: they hold what was said and done there (pasted secrets, file contents), and
# one written from here would be read by the host's claude when the user resumes that session. So
# ~/.claude/projects is a tmpfs inside, with only this project's directory bound in, read-write.
csbx_fs_claude_projects() {
  local dir=$1/projects key
  if [[ -L $dir ]]; then
    csbx_warn "$dir is a symlink, so other projects' Claude sessions stay visible in the sandbox"
    return 0
  fi
  csbx_claude_project_key
  key=$dir/$csbx_claude_key
  [[ -d $dir ]] || mkdir -m 0700 -- "$dir" 2>/dev/null || [[ -d $dir ]] || csbx_die 1 "cannot create $dir"
  [[ -d $key ]] || mkdir -m 0700 -- "$key" 2>/dev/null || [[ -d $key ]] || csbx_die 1 "cannot create $key"
  bw+=(--perms 0700 --tmpfs "$dir")
  csbx_bind_checked rw "$key" "$dir"
  csbx_pinned[$dir]=private
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

# ~/.claude is read-write so logins and sessions persist, except what the host's claude would load and
# run the next time it starts unsandboxed: those entries are bound read-only on top. Missing ones are
# created on the host first, empty, so the sandbox cannot create them through the rw bind either.
csbx_fs_claude() {
  local c=$HOME/.claude
  # Concurrent launches create these too: a dir that exists after a failed mkdir is fine.
  [[ -d $c ]] || mkdir -m 0700 -- "$c" 2>/dev/null || [[ -d $c ]] || csbx_die 1 "cannot create $c; check that HOME is writable"
  bw+=(--bind "$c" "$c")
  local name
  for name in "${spec_claude_ro[@]}"; do
    [[ $name != */* && $name != .* ]] || continue
    if [[ ! -e $c/$name && ! -L $c/$name ]]; then
      # Names with an extension are files, the rest directories. Placeholders stay empty: an empty
      # file is "nothing configured" to claude, and obviously not content the sandbox wrote.
      case $name in
        *.*) : >>"$c/$name" ;;
        *) mkdir -m 0700 -- "$c/$name" 2>/dev/null || [[ -d $c/$name ]] || csbx_die 1 "cannot create $c/$name" ;;
      esac
    fi
    if [[ -L $c/$name ]]; then
      # A link of the user's own (dotfiles): what it points to, read-only. No running sandbox can have
      # swapped it, since the entry is a mount point in every one.
      bw+=(--ro-bind "$c/$name" "$c/$name")
    else
      csbx_bind_checked ro "$c/$name" "$c"
    fi
    # Scripts named in settings.json below it (~/.claude/hooks/x.sh) need no pin over it.
    csbx_pinned[$c/$name]=ro
  done
  # Protected only when present (creating them would change how the host's claude behaves):
  # ~/.claude/local holds a locally installed claude that the host runs.
  for name in "${spec_claude_ro_opt[@]}"; do
    [[ $name != */* && $name != .* ]] || continue
    csbx_ro_under "$c" "$name"
  done
  # What the host's claude sources later (shell snapshots: a bash script per session, run before every
  # Bash tool call) must not be writable either, yet the claude inside needs a place for its own: each
  # project gets a private directory bound over the host's.
  for name in "${spec_claude_private[@]}"; do
    [[ $name != */* && $name != .* ]] || continue
    [[ -d $c/$name ]] || mkdir -m 0700 -- "$c/$name" 2>/dev/null || continue
    [[ -d $state/claude-$name ]] || mkdir -m 0700 -- "$state/claude-$name" 2>/dev/null ||
      [[ -d $state/claude-$name ]] || csbx_die 1 "cannot create $state/claude-$name"
    bw+=(--bind "$state/claude-$name" "$c/$name")
    csbx_pinned[$c/$name]=private
  done
  csbx_fs_claude_projects "$c"
  # Scripts that settings.json runs (statusLine, hooks) by a path under ~/.claude are read-only too.
  # The ways a settings file names the home directory (a JSON string may quote $HOME as \"$HOME\") are all
  # turned into ~ first.
  # shellcheck disable=SC2088 # literal text of settings files, not paths to expand
  local f text path re='~/\.claude/([A-Za-z0-9._/-]+)' tilde='~/.claude/' form
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
      path=${BASH_REMATCH[1]}
      text=${text#*"${BASH_REMATCH[0]}"}
      csbx_ro_named "$c" "$path"
    done
  done
  # Copied, not bound: claude rewrites this file often, and a bind of a file that gets replaced by
  # rename goes stale (the seed's lesson).
  if [[ -f $HOME/.claude.json ]]; then
    local fd
    exec {fd}<"$HOME/.claude.json"
    bw+=(--perms 0600 --file "$fd" "$HOME/.claude.json")
  fi
}

# csbx_ro_under BASE REL: binds BASE/REL read-only over itself when it exists and no part of REL is a
# symlink. The sandbox can plant symlinks, and bwrap follows them on the host side: a link to ~/.ssh
# would bind the host's keys into the sandbox. BASE must be a mount point of the sandbox (the project,
# ~/.claude).
#
# A read-only mount alone does not protect a path: a directory that merely holds a mount point can still
# be renamed, mount and all, and replaced by a writable copy (`mv .git .git-old; mkdir .git`, then a
# config with core.fsmonitor that the host's git runs). So every directory between BASE and REL is
# pinned first, bound onto itself: a mount point cannot be renamed. Pins come before the leaves they
# hold, and a leaf already read-only is never pinned over (a pin is a writable bind of the host dir).
declare -A csbx_pinned=()

# csbx_bind_checked rw|ro PATH [BASE]: binds PATH over itself, from a descriptor checked to be what PATH names.
# PATH lies where a running sandbox can write (the project, ~/.claude), and bwrap, binding by path a
# moment later, would follow a symlink swapped in meanwhile (renameat2 RENAME_EXCHANGE in a loop) and
# bind whatever it points to: a running sandbox could hand the next one ~/.ssh read-write. So the path is
# opened here, then checked: no part of it is a symlink now, and it still names the inode that was
# opened; bwrap binds that descriptor (--bind-fd). A swap at any point is caught or comes too late.
# Only plain files and directories are opened (a FIFO would block the launch).
csbx_bind_checked() {
  local path=$2 base=${3:-${2%/*}} fd p
  [[ -f $path || -d $path ]] || return 0
  exec {fd}<"$path" || csbx_die 1 "cannot open $path to protect it in the sandbox"
  # Only the parts below BASE (a mount point in every sandbox, so no sandbox can swap it) can change.
  p=$path
  while [[ $p != "$base" && $p == "$base"/* ]]; do
    [[ -L $p ]] &&
      csbx_die 1 "$p changed into a symlink while the sandbox was being set up (a running sandbox may be racing this launch); not starting"
    p=${p%/*}
  done
  [[ /proc/self/fd/$fd -ef $path ]] ||
    csbx_die 1 "$path changed while the sandbox was being set up (a running sandbox may be racing this launch); not starting"
  if [[ $1 == ro ]]; then bw+=(--ro-bind-fd "$fd" "$path"); else bw+=(--bind-fd "$fd" "$path"); fi
}

csbx_ro_under() {
  local base=$1 rest=$2 at=$1 part dirs=() d
  [[ $rest != /* && $rest != *..* ]] || return 0
  while [[ -n $rest ]]; do
    part=${rest%%/*}
    [[ $part == "$rest" ]] && rest='' || rest=${rest#*/}
    [[ -n $part ]] || continue
    at=$at/$part
    [[ -e $at && ! -L $at ]] || return 0
    # Below a path already bound read-only everything is read-only.
    [[ ${csbx_pinned[$at]-} == ro ]] && return 0
    [[ -n $rest ]] && dirs+=("$at")
  done
  [[ $at != "$base" ]] || return 0
  for d in "${dirs[@]}"; do
    [[ -n ${csbx_pinned[$d]-} ]] && continue
    csbx_pinned[$d]=pin
    csbx_bind_checked rw "$d" "$base"
  done
  [[ ${csbx_pinned[$at]-} == pin ]] && return 0
  csbx_pinned[$at]=ro
  csbx_bind_checked ro "$at" "$base"
}

# csbx_ro_named BASE REL: like csbx_ro_under, for a script that a settings file names and the host's
# claude will run. When it does not exist, an empty placeholder is created first (its directories too):
# otherwise the sandbox could create it, and the host would run what it wrote.
csbx_ro_named() {
  local base=$1 rel=$2 at=$1 rest=$2 part
  [[ $rel != /* && $rel != *..* && -n $rel ]] || return 0
  if [[ ! -e $base/$rel && ! -L $base/$rel ]]; then
    # One directory at a time, none of them a symlink: the sandbox may have planted one to make the
    # launcher create files elsewhere on the host.
    while [[ $rest == */* ]]; do
      part=${rest%%/*}
      rest=${rest#*/}
      at=$at/$part
      [[ -n $part ]] || continue
      if [[ -L $at ]] || { [[ -e $at ]] && [[ ! -d $at ]]; }; then return 0; fi
      [[ -d $at ]] || mkdir -m 0755 -- "$at" 2>/dev/null || return 0
    done
    # noclobber creates with O_EXCL, which never follows a symlink put there meanwhile.
    set -C
    { : >"$base/$rel"; } 2>/dev/null || { set +C; return 0; }
    set +C
    csbx_note "created an empty $base/$rel, which settings name as a command, so that the sandbox cannot create it"
  fi
  csbx_ro_under "$base" "$rel"
}

# Protects what the host's git runs from a repository (see csbx_fs_project) in the repository at
# project-relative REL: a git dir (.git, or a submodule's under .git/modules).
csbx_ro_gitdir() {
  # hooks is created when missing (git init makes it; an empty one changes nothing), so the sandbox cannot
  # create hooks there. commondir and config.worktree redirect or extend the config: read-only when they
  # exist; one the sandbox creates is beyond this (see README).
  [[ -e $project/$1/hooks || -L $project/$1/hooks ]] || mkdir -m 0755 -- "$project/$1/hooks" 2>/dev/null || true
  csbx_ro_under "$project" "$1/hooks"
  csbx_ro_under "$project" "$1/config"
  csbx_ro_under "$project" "$1/commondir"
  csbx_ro_under "$project" "$1/config.worktree"
}

# Submodules keep their git dirs under .git/modules/<name>, names may hold slashes, and submodules nest
# (<name>/modules/<name>). A git dir is a directory with a HEAD file. Bounded: 64 git dirs, 8 levels.
csbx_ro_submodules() {
  local queue=("$project/.git/modules") next d found=0 depth
  for ((depth = 0; depth < 8 && ${#queue[@]} && found < 64; depth++)); do
    next=()
    for d in "${queue[@]}"; do
      [[ -d $d && ! -L $d ]] || continue
      if [[ -f $d/HEAD ]]; then
        ((found++ < 64)) || break
        csbx_ro_gitdir "${d#"$project"/}"
        next+=("$d"/modules)
      else
        next+=("$d"/*/)
      fi
    done
    queue=("${next[@]%/}")
  done
  return 0
}

csbx_fs_project() {
  bw+=(--bind "$project" "$project")
  # Host git runs hooks and config-defined commands (core.fsmonitor, aliases, sshCommand) from here the
  # next time the user runs git on the host: keep them read-only when the project is a repository, in
  # its submodules too (`git status` runs git in each). A .git file (a worktree or a submodule checkout)
  # points git at its real git dir: read-only, so it cannot be pointed at one the sandbox made.
  if [[ -f $project/.git ]]; then
    csbx_ro_under "$project" .git
  elif [[ -d $project/.git ]]; then
    csbx_ro_gitdir .git
    [[ -d $project/.git/modules ]] && csbx_ro_submodules
  fi
  # The same for Claude Code: the host's claude, started later in this project, loads .claude/ (its
  # settings.json and settings.local.json define hooks and a statusLine that run as commands; skills,
  # commands and agents steer it) and .mcp.json (servers it starts). The whole .claude/ is read-only,
  # created empty when missing so the sandbox cannot create it with a settings file inside.
  local c=$project/.claude
  if [[ ! -e $c && ! -L $c ]]; then
    mkdir -- "$c" 2>/dev/null || [[ -d $c ]] ||
      csbx_warn "cannot create $c; the sandbox could create Claude settings for this project that the host's claude would run"
  fi
  [[ -L $c ]] && csbx_warn "$c is a symlink, so it is not kept read-only; the sandbox may change the Claude settings it points to"
  csbx_ro_under "$project" .claude
  csbx_ro_under "$project" .mcp.json
  # Hook scripts elsewhere in the project, named through $CLAUDE_PROJECT_DIR in those settings.
  # shellcheck disable=SC2016 # literal text of settings files
  # "$CLAUDE_PROJECT_DIR"/x, ${CLAUDE_PROJECT_DIR}/x, and in JSON \"$CLAUDE_PROJECT_DIR\"/x.
  local f text rel re='CLAUDE_PROJECT_DIR\}?(\\?")?/([A-Za-z0-9._/-]+)'
  for f in "$c/settings.json" "$c/settings.local.json"; do
    [[ -s $f ]] || continue
    # read -d '' instead of $(<f): no subshell on the launch path.
    IFS= read -r -d '' text <"$f" || true
    while [[ $text =~ $re ]]; do
      rel=${BASH_REMATCH[2]}
      text=${text#*"${BASH_REMATCH[0]}"}
      [[ $rel == .claude/* ]] || csbx_ro_named "$project" "$rel"
    done
  done
  return 0
}

csbx_fs_sockets() {
  if [[ -n ${SSH_AUTH_SOCK-} && -S $SSH_AUTH_SOCK ]]; then
    bw+=(--ro-bind "$SSH_AUTH_SOCK" "$sbx_runtime_dir/ssh-agent.sock")
    csbx_env_add SSH_AUTH_SOCK "$sbx_runtime_dir/ssh-agent.sock"
  fi
  if [[ -S /nix/var/nix/daemon-socket/socket ]]; then
    bw+=(--ro-bind /nix/var/nix/daemon-socket /nix/var/nix/daemon-socket)
    csbx_env_add NIX_REMOTE daemon
  fi
}

# Chromium: a wrapper first on PATH that gives each project its own profile and hides the session bus
# (Chromium's D-Bus singleton would otherwise hand a URL to another sandbox's browser), and the
# managed extension policy from the spec.
csbx_fs_chromium() {
  local real=${CLAUDE_SANDBOX_CHROMIUM:-} d dirs
  if [[ -z $real ]]; then
    # A PATH walk instead of `type -P` in a subshell: no fork on the hot path.
    IFS=: read -r -a dirs <<<"${CLAUDE_SANDBOX_PATH:+$CLAUDE_SANDBOX_PATH:}$PATH"
    for d in "${dirs[@]}"; do
      if [[ $d == /* && -x $d/chromium ]]; then
        real=$d/chromium
        break
      fi
    done
  fi
  if [[ -n $real ]]; then
    # Chromium keeps its own sandbox (it works inside bwrap's user namespace), except as uid 0, where
    # it refuses to start without --no-sandbox; the bwrap sandbox still holds it then.
    local fd flags=''
    ((uid == 0)) && flags=' --no-sandbox'
    exec {fd}<<<"#!/bin/sh
# Generated by claude-sandbox: per-project profile, no D-Bus singleton shared between sandboxes.
unset DBUS_SESSION_BUS_ADDRESS
if [ -n \"\$CHROMIUM_USER_DATA_DIR\" ]; then
  exec ${real@Q}$flags --user-data-dir=\"\$CHROMIUM_USER_DATA_DIR\" \"\$@\"
fi
exec ${real@Q}$flags \"\$@\""
    # A file of the sandbox's own /run (the root tmpfs), not a mount.
    bw+=(--perms 0555 --file "$fd" /run/claude-sandbox/bin/chromium
      --symlink chromium /run/claude-sandbox/bin/chromium-browser)
  fi
  # Into the /etc tmpfs, which becomes read-only after this.
  local pfd
  exec {pfd}<<<"$spec_policy"
  bw+=(--dir /etc/chromium/policies/managed
    --perms 0444 --file "$pfd" /etc/chromium/policies/managed/claude-sandbox.json)
}

# Sets csbx_seccomp_file to the cached filter (see seccomp.sh), or to '' where it does not apply.
csbx_seccomp_file() {
  csbx_seccomp_file=''
  [[ $HOSTTYPE == x86_64 ]] || return 0
  # Rebuilt when seccomp.sh is newer than the cache, or is another file than the one it was built from:
  # an upgrade through Nix brings a new store path whose files all carry the same old mtime.
  local f=$state_root/seccomp.bpf gen=$csbx_dir/lib/seccomp.sh from=''
  [[ -s $f.from ]] && IFS= read -r from <"$f.from"
  if [[ ! -s $f || $from != "$gen" || $gen -nt $f ]]; then
    # shellcheck source=launcher/bubblewrap/lib/seccomp.sh
    source "$gen"
    csbx_seccomp_program
    printf '%b' "$csbx_bpf_prog" >"$f.$BASHPID"
    mv -f -- "$f.$BASHPID" "$f"
    printf '%s\n' "$gen" >"$f.from.$BASHPID"
    mv -f -- "$f.from.$BASHPID" "$f.from"
  fi
  csbx_seccomp_file=$f
}

csbx_build_mounts() {
  bw=()
  csbx_seccomp_file
  if [[ -n $csbx_seccomp_file ]]; then
    local sfd
    exec {sfd}<"$csbx_seccomp_file"
    bw+=(--seccomp "$sfd")
  fi
  csbx_fs_system
  csbx_fs_home
  csbx_fs_project
  if [[ -n ${DISPLAY-}${WAYLAND_DISPLAY-}${XDG_RUNTIME_DIR-}${DBUS_SESSION_BUS_ADDRESS-} ]]; then
    # shellcheck source=launcher/bubblewrap/lib/display.sh
    source "$csbx_dir/lib/display.sh"
    csbx_fs_display
    csbx_fs_dbus
  fi
  csbx_fs_sockets
  csbx_fs_chromium
  # Last: everything that goes into the /etc tmpfs is in it now.
  bw+=(--remount-ro /etc)
}
