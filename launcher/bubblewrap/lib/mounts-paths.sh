# shellcheck shell=bash
# Paths named by config files, as project-relative paths (sourced on first use; replaces the stub of
# csbx_proj_rel in mounts-project.sh).

# csbx_norm PATH: sets csbx_normed to absolute PATH with . and .. resolved by name.
csbx_norm() {
  if [[ $1 == /* && $1 != *//* && $1 != */./* && $1 != */../* && $1 != */. && $1 != */.. && $1 != */ ]]; then
    csbx_normed=$1
    return 0
  fi
  local p=$1/ part out=''
  while [[ -n $p ]]; do
    part=${p%%/*}
    p=${p#*/}
    case $part in
      '' | .) ;;
      ..) out=${out%/*} ;;
      *) out+=/$part ;;
    esac
  done
  csbx_normed=${out:-/}
}

# csbx_proj_rel ABS: sets csbx_rel to ABS relative to the project ('' for the project itself); 1 when ABS
# lies outside it.
csbx_proj_rel() {
  csbx_norm "$1"
  csbx_rel=''
  [[ $csbx_normed == "$project" ]] && return 0
  [[ $csbx_normed == "$project"/* ]] || return 1
  csbx_rel=${csbx_normed#"$project"/}
}

