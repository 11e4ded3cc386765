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

# A BASE that the host reaches through a descriptor rather than its path: csbx_base_src[BASE] is the
# host-side path to use for it (/proc/self/fd/N of the project, opened once in cli.sh, since the project
# path itself can be swapped by a sandbox of a parent directory). Checks, opens and the files created
# go through that; bwrap destinations stay the paths as the sandbox sees them.
declare -A csbx_base_src=()

# csbx_host_path PATH BASE: sets csbx_host to where the host reaches PATH (BASE or below it).
csbx_host_path() {
  local src=${csbx_base_src[$2]-}
  if [[ -n $src && ($1 == "$2" || $1 == "$2"/*) ]]; then csbx_host=$src${1#"$2"}; else csbx_host=$1; fi
}

# csbx_bind_checked rw|ro PATH [BASE]: binds PATH over itself, from a descriptor checked to be what PATH names.
# PATH lies where a running sandbox can write (the project, ~/.claude), and bwrap, binding by path a
# moment later, would follow a symlink swapped in meanwhile (renameat2 RENAME_EXCHANGE in a loop) and
# bind whatever it points to: a running sandbox could hand the next one ~/.ssh read-write. So the path is
# opened here, then checked: no part of it is a symlink now, and it still names the inode that was
# opened; bwrap binds that descriptor (--bind-fd). A swap at any point is caught or comes too late.
# Only plain files and directories are opened (a FIFO would block the launch).
csbx_bind_checked() {
  local path=$2 base=${3:-${2%/*}} fd p
  # Inline csbx_host_path: this runs for every protected path.
  local hbase=${csbx_base_src[$base]-}
  [[ -n $hbase ]] || hbase=$base
  local host=$hbase${path#"$base"}
  [[ -f $host || -d $host ]] || return 0
  exec {fd}<"$host" || csbx_die 1 "cannot open $path to protect it in the sandbox"
  # Only the parts below BASE (a mount point in every sandbox, or a descriptor: nothing a sandbox can
  # swap) can change.
  p=$host
  while [[ $p != "$hbase" && $p == "$hbase"/* ]]; do
    [[ -L $p ]] &&
      csbx_die 1 "$base${p#"$hbase"} changed into a symlink while the sandbox was being set up (a running sandbox may be racing this launch); not starting"
    p=${p%/*}
  done
  [[ /proc/self/fd/$fd -ef $host ]] ||
    csbx_die 1 "$path changed while the sandbox was being set up (a running sandbox may be racing this launch); not starting"
  if [[ $1 == ro ]]; then bw+=(--ro-bind-fd "$fd" "$path"); else bw+=(--bind-fd "$fd" "$path"); fi
}

csbx_ro_under() {
  local base=$1 rest=$2 at=$1 part dirs=() d
  [[ $rest != /* && $rest != *..* ]] || return 0
  local host=${csbx_base_src[$base]-}
  [[ -n $host ]] || host=$base
  while [[ -n $rest ]]; do
    part=${rest%%/*}
    [[ $part == "$rest" ]] && rest='' || rest=${rest#*/}
    [[ -n $part ]] || continue
    at=$at/$part
    host=$host/$part
    [[ -e $host && ! -L $host ]] || return 0
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
  case ${csbx_pinned[$at]-} in
    ro | rodir | private) return 0 ;;
    pin)
      # Pinned on the way to a leaf below, and now wanted read-only as a whole (a core.hooksPath dir
      # holding a script a hook names): a read-only bind on top covers the pin and what it holds, unless
      # that is a directory of the sandbox's own, which must stay out of sight.
      for d in "${!csbx_pinned[@]}"; do
        [[ $d == "$at"/* && ${csbx_pinned[$d]} == private ]] && return 0
      done
      ;;
  esac
  csbx_pinned[$at]=ro
  csbx_bind_checked ro "$at" "$base"
}

# csbx_below_ro PATH: whether PATH lies below a path already bound read-only (nothing there needs a
# placeholder: the sandbox cannot create it).
csbx_below_ro() {
  local p=${1%/*}
  while [[ $p == /?* ]]; do
    [[ ${csbx_pinned[$p]-} == ro ]] && return 0
    p=${p%/*}
  done
  return 1
}

# Creating what a protected path needs (a placeholder, a missing directory) happens on a first launch,
# rarely after: those helpers (mounts-create.sh) are read only then.

# csbx_ro_named BASE REL [WHY]: like csbx_ro_under, for a script that a settings file names and the host's
# claude will run (or a file git reads as config: WHY says so). When it does not exist, an empty
# placeholder is created first (its directories too, see mounts-create.sh): otherwise the sandbox could
# create it, and the host would run what it wrote.
csbx_ro_named() {
  local csbx_host
  csbx_host_path "$1" "$1"
  if [[ -e $csbx_host/$2 || -L $csbx_host/$2 ]]; then
    csbx_ro_under "$1" "$2"
    return 0
  fi
  # shellcheck source=launcher/bubblewrap/lib/mounts-create.sh
  source "$csbx_dir/lib/mounts-create.sh"
  csbx_ro_named "$@"
}

# csbx_mkdir_checked BASE REL: makes the directory BASE/REL and those missing above it (mounts-create.sh).
csbx_mkdir_checked() {
  # shellcheck source=launcher/bubblewrap/lib/mounts-create.sh
  source "$csbx_dir/lib/mounts-create.sh"
  csbx_mkdir_checked "$@"
}
