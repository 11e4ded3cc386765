# shellcheck shell=bash
# shellcheck disable=SC2004 # csbx_pinned and csbx_base_src are associative arrays (mounts-checked.sh)
# The project directory and what the host later runs from it (sourced by mounts.sh).
#
# The project was opened once (project_fd, cli.sh) and is reached on the host only through that
# descriptor: a sandbox of a parent directory can swap the project path for a symlink to ~/.ssh at any
# moment, and bwrap binding the path, or mkdir of .claude, would follow it. bwrap binds the descriptor
# itself; everything below is checked and created relative to the launcher's working directory, which is
# that same directory (cli.sh entered it through the descriptor): csbx_phost is `.`, since a path through
# /proc/self/fd/N costs procfs lookups on every one of the many names tried here.

# Directories never looked into for repositories or .claude dirs: package trees.
csbx_nested_skip=' node_modules bower_components '
# Directories whose subdirectories are looked into too: where monorepos keep their packages and
# directories of repositories their members. Only these: finding the second level means reading the first
# level's directories, whose size has no bound.
csbx_nested_containers=' packages apps libs services modules plugins crates projects repos vendor third_party external '

csbx_fs_project() {
  # The working directory is the opened project: csbx_resolve_project ends there, and nothing since moves.
  csbx_phost=.
  csbx_base_src[$project]=$csbx_phost
  bw+=(--bind-fd "$project_fd" "$project")
  csbx_hook_srcs=()
  # The project's own .claude first: what is read-only as a whole is never pinned writable by a
  # script named inside it.
  csbx_fs_claude_dir ''
  csbx_git_loaded=0
  [[ -e $csbx_phost/.git ]] && csbx_git_repo_of ''
  csbx_fs_nested
  # Scripts that the commands of Claude settings name (mounts-hooks.sh): read only when there is a
  # settings file to look at, the user's own included.
  local f=$HOME/.claude k
  csbx_hook_srcs+=(settings "$f/settings.json" "$f/settings.json" "$project"
    settings "$f/settings.local.json" "$f/settings.local.json" "$project"
    settings /etc/claude-code/managed-settings.json /etc/claude-code/managed-settings.json "$project")
  for ((k = 1; k < ${#csbx_hook_srcs[@]}; k += 4)); do
    if [[ -s ${csbx_hook_srcs[k]} ]]; then
      # shellcheck source=launcher/bubblewrap/lib/mounts-hooks.sh
      source "$csbx_dir/lib/mounts-hooks.sh"
      csbx_fs_hook_paths $((k - 1))
      break
    fi
  done
  return 0
}

# csbx_git_repo_of ROOT: the repository at project-relative ROOT, with mounts-git.sh read on first use.
csbx_git_repo_of() {
  if ((!csbx_git_loaded)); then
    # shellcheck source=launcher/bubblewrap/lib/mounts-git.sh
    source "$csbx_dir/lib/mounts-git.sh"
    csbx_git_loaded=1
    csbx_git_global
  fi
  csbx_git_repo "$1"
}

# csbx_proj_rel ABS: sets csbx_rel to ABS relative to the project (mounts-paths.sh, read on first use).
csbx_proj_rel() {
  # shellcheck source=launcher/bubblewrap/lib/mounts-paths.sh
  source "$csbx_dir/lib/mounts-paths.sh"
  csbx_proj_rel "$@"
}

# csbx_fs_claude_dir REL: the host's claude, started later in the project (or in its subdirectory REL),
# loads .claude/ there (settings.json and settings.local.json define hooks and a statusLine that run as
# commands; skills, commands and agents steer it) and .mcp.json (servers it starts). The whole .claude/
# is read-only; the project's own is created empty when missing, so the sandbox cannot create it with
# a settings file inside (one in a subdirectory that has none: see README, "Known limits").
csbx_fs_claude_dir() {
  local rel=$1 c=$csbx_phost${1:+/$1}/.claude root=$project${1:+/$1}
  if [[ -z $rel && ! -e $c && ! -L $c ]]; then
    # Directly below the opened directory: nothing a racing sandbox can redirect.
    mkdir -- "$c" 2>/dev/null || [[ -d $c ]] ||
      csbx_warn "cannot create $project/.claude; the sandbox could create Claude settings for this project that the host's claude would run"
  fi
  [[ -L $c ]] && csbx_warn "$root/.claude is a symlink, so it is not kept read-only; the sandbox may change the Claude settings it points to"
  csbx_ro_under "$project" "${rel:+$rel/}.claude"
  csbx_ro_under "$project" "${rel:+$rel/}.mcp.json"
  csbx_hook_srcs+=(settings "$c/settings.json" "$root/.claude/settings.json" "$root"
    settings "$c/settings.local.json" "$root/.claude/settings.local.json" "$root"
    mcp "$csbx_phost${1:+/$1}/.mcp.json" "$root/.mcp.json" "$root")
}

# Repositories and .claude dirs one level below the project, present at launch (a directory of
# repositories, a vendored clone), and two levels below in the usual monorepo containers (packages/*,
# apps/*, …): protected like the project's own. A stat per name, so the cost follows the number of
# directories, never their size. Deeper ones, and those created while a sandbox runs, are the sandbox's
# (README, "Known limits").
csbx_fs_nested() {
  local d name sub repos=0 claudes=0 dirs=()
  for d in ./*/; do
    [[ -e $d.git || -e $d.claude || -e $d.mcp.json ]] && dirs+=("$d")
    name=${d%/}
    name=${name##*/}
    if [[ $csbx_nested_containers == *" $name "* ]]; then
      for sub in "$d"*/; do
        [[ -e $sub.git || -e $sub.claude || -e $sub.mcp.json ]] && dirs+=("$sub")
      done
    fi
  done
  for d in "${dirs[@]}"; do
    d=${d#./}
    d=${d%/}
    # Not through a symlink the sandbox may have planted, nor in a package tree.
    [[ ! -L $d && ! -L ${d%%/*} && $csbx_nested_skip != *" ${d%%/*} "* ]] || continue
    if [[ -e $d/.git ]]; then
      if ((++repos <= 32)); then
        csbx_git_repo_of "$d"
      elif ((repos == 33)); then
        csbx_warn "more than 32 git repositories in $project: those after $d are not protected from the sandbox (their hooks and config stay writable)"
      fi
    fi
    if [[ -e $d/.claude || -e $d/.mcp.json ]]; then
      if ((++claudes <= 32)); then
        csbx_fs_claude_dir "$d"
      elif ((claudes == 33)); then
        csbx_warn "more than 32 Claude settings dirs in $project: those after $d are not kept read-only"
      fi
    fi
  done
  return 0
}

