# shellcheck shell=bash
# shellcheck disable=SC2004 # csbx_git_seen is an associative array, not arithmetic
# What the host's git runs from the repositories in the project (sourced by mounts-project.sh when the
# project holds one).
#
# Git runs hooks and config-defined commands (core.fsmonitor, aliases, sshCommand, diff and merge drivers)
# from a repository's git dir whenever the user runs git there on the host, and it finds that git dir
# through pointers: a `.git` file (a submodule's checkout, a linked worktree), a linked worktree's
# `commondir`, `config.worktree`, include.path, core.hooksPath. Every git dir the project holds at launch
# gets the same treatment as the project's own `.git`: its hooks, config and pointers read-only, the
# directories holding them pinned (a mount point cannot be renamed away and replaced), the rest of it
# writable so that commits, fetches and checkouts work inside.
#
# Paths here are relative to the project; the host reaches them through its descriptor (csbx_phost). A
# plain repository is handled here; what only some need (a config to read, linked worktrees, submodules,
# a .git file) is in mounts-git-more.sh, read when one does: bash spends about 2 us a line reading code.

declare -gA csbx_git_seen=()
csbx_git_global_hooks=()
csbx_git_global_wtconfig=0

csbx_git_more() {
  # shellcheck source=launcher/bubblewrap/lib/mounts-git-more.sh
  source "$csbx_dir/lib/mounts-git-more.sh"
  csbx_git_more() { :; }
}

# The user's and the system's git config, once per launch: core.hooksPath there applies to every
# repository (a relative one to each worktree), and an included file may lie in the project.
csbx_git_global() {
  local f text
  for f in /etc/gitconfig "${XDG_CONFIG_HOME:-$HOME/.config}/git/config" "$HOME/.gitconfig"; do
    [[ -f $f && -r $f ]] || continue
    text=''
    IFS= read -r -d '' text <"$f" || true
    text=${text,,}
    if [[ $text == *hookspath* || $text == *include* || $text == *worktreeconfig* ]]; then
      csbx_git_more
      csbx_git_global_read
      return 0
    fi
  done
  return 0
}

# csbx_git_dir G WT: the git dir at project-relative G, whose main worktree is at WT ('' the project, '-'
# none or unknown).
csbx_git_dir() {
  local g=$1 wt=$2 hg=$csbx_phost/$1 text='' special=0
  [[ -z ${csbx_git_seen[$g]-} ]] || return 0
  csbx_git_seen[$g]=1
  # Bounded: a project holding hundreds of repositories gets the first ones.
  ((${#csbx_git_seen[@]} <= 128)) || return 0
  [[ -d $hg && ! -L $hg ]] || return 0
  # hooks is created when missing (git init makes it; an empty one changes nothing), so the sandbox cannot
  # create hooks there.
  [[ -e $hg/hooks || -L $hg/hooks ]] || csbx_mkdir_checked "$project" "$g/hooks" || true
  csbx_ro_under "$project" "$g/hooks"
  csbx_ro_under "$project" "$g/config"
  [[ -e $hg/commondir ]] && csbx_ro_under "$project" "$g/commondir"
  # G/worktrees holds the git dirs of linked worktrees (see csbx_git_worktrees): created when missing, so
  # that one the host adds while the sandbox runs lands where the sandbox cannot write.
  [[ -e $hg/worktrees || -L $hg/worktrees ]] || csbx_mkdir_checked "$project" "$g/worktrees" || true
  [[ -f $hg/config ]] && { IFS= read -r -d '' text <"$hg/config" || true; }
  text=${text,,}
  local linked=("$hg/worktrees"/*/)
  if ((${#csbx_git_global_hooks[@]} || csbx_git_global_wtconfig || ${#linked[@]})) || [[ -d $hg/modules ]] ||
    [[ $text == *hookspath* || $text == *include* || $text == *worktree* ]] ||
    [[ $wt != - && -f $csbx_phost${wt:+/$wt}/.gitmodules ]]; then
    special=1
  fi
  if ((special)); then
    csbx_git_more
    csbx_git_dir_more "$g" "$wt"
    return 0
  fi
  csbx_ro_under "$project" "$g/config.worktree"
  csbx_ro_under "$project" "$g/worktrees"
}

# csbx_git_repo ROOT: the repository whose worktree is project-relative ROOT ('' the project itself).
csbx_git_repo() {
  local g=${1:+$1/}.git
  if [[ -L $csbx_phost/$g ]]; then
    return 0
  elif [[ -f $csbx_phost/$g ]]; then
    csbx_git_more
    csbx_git_file "$g"
  elif [[ -d $csbx_phost/$g ]]; then
    csbx_git_dir "$g" "$1"
  fi
}
