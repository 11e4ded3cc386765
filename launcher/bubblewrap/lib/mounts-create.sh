# shellcheck shell=bash
# Creating what a protected path needs on the host, inside the project or ~/.claude, where a running
# sandbox may be swapping directories for symlinks meanwhile (sourced by mounts-checked.sh when needed;
# it replaces the stubs there).

# csbx_open_dir_checked HOSTBASE REL: opens HOSTBASE/REL (REL '' or /a/b), a directory no part of which
# below HOSTBASE is a symlink, and sets csbx_dfd to it; 1 when it is not such a directory. What is
# created through /proc/self/fd/$csbx_dfd lands in that directory even if a racing sandbox swaps a part
# of the path for a symlink meanwhile (a name, like ~/.ssh/.claude, must never appear elsewhere on the
# host). The caller closes csbx_dfd: a descriptor left open would reach the sandbox.
csbx_open_dir_checked() {
  local p=$1$2
  { exec {csbx_dfd}<"$p/."; } 2>/dev/null || return 1
  while [[ $p != "$1" ]]; do
    if [[ -L $p ]]; then
      exec {csbx_dfd}<&-
      return 1
    fi
    p=${p%/*}
  done
  [[ /proc/self/fd/$csbx_dfd -ef $1$2 ]] && return 0
  exec {csbx_dfd}<&-
  return 1
}

# csbx_mkdir_checked BASE REL: makes the directory BASE/REL and those missing above it, each inside a
# directory opened and checked first (csbx_open_dir_checked); 1 when a part is a symlink or no directory.
csbx_mkdir_checked() {
  local rest=$2 at='' part csbx_host csbx_dfd
  csbx_host_path "$1" "$1"
  local hbase=$csbx_host
  [[ $rest != /* && $rest != *..* ]] || return 1
  while [[ -n $rest ]]; do
    part=${rest%%/*}
    [[ $part == "$rest" ]] && rest='' || rest=${rest#*/}
    [[ -n $part && $part != . ]] || continue
    if [[ ! -e $hbase$at/$part && ! -L $hbase$at/$part ]]; then
      csbx_open_dir_checked "$hbase" "$at" || return 1
      mkdir -m 0755 -- "/proc/self/fd/$csbx_dfd/$part" 2>/dev/null
      exec {csbx_dfd}<&-
    fi
    at=$at/$part
    [[ -d $hbase$at && ! -L $hbase$at ]] || return 1
  done
  return 0
}

# csbx_ro_named BASE REL [WHY]: like csbx_ro_under, for a script that a settings file names and the host's
# claude will run (or a file git reads as config: WHY says so). When it does not exist, an empty
# placeholder is created first (its directories too): otherwise the sandbox could create it, and the host
# would run what it wrote.
csbx_ro_named() {
  local base=$1 rel=$2 why=${3:-settings name as a command} dir name csbx_host csbx_dfd
  [[ $rel != /* && $rel != *..* && -n $rel && $rel != */ ]] || return 0
  csbx_host_path "$base" "$base"
  local hbase=$csbx_host
  if [[ ! -e $hbase/$rel && ! -L $hbase/$rel ]]; then
    name=${rel##*/}
    dir=''
    [[ $rel == */* ]] && dir=/${rel%/*}
    csbx_mkdir_checked "$base" "${dir#/}" || return 0
    csbx_open_dir_checked "$hbase" "$dir" || return 0
    # noclobber creates with O_EXCL, which never follows a symlink put there meanwhile.
    set -C
    if ! { : >"/proc/self/fd/$csbx_dfd/$name"; } 2>/dev/null; then
      set +C
      exec {csbx_dfd}<&-
      return 0
    fi
    set +C
    exec {csbx_dfd}<&-
    csbx_note "created an empty $base/$rel, which $why, so that the sandbox cannot create it"
  fi
  csbx_ro_under "$base" "$rel"
}
