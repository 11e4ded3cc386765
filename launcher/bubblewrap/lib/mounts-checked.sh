# shellcheck shell=bash
# Binds of paths a running sandbox can write to: checked, by descriptor, with their directories pinned
# (sourced by mounts.sh).

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

