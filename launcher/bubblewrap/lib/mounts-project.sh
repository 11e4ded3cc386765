# shellcheck shell=bash
# shellcheck disable=SC2004 # csbx_pinned and csbx_base_src are associative arrays (mounts-checked.sh)
# The project directory and what the host later runs from it (sourced by mounts.sh).
#
# The project was opened once (project_fd, cli.sh) and is reached on the host only through that
# descriptor (csbx_phost, /proc/self/fd/N): a sandbox of a parent directory can swap the project path for
# a symlink to ~/.ssh at any moment, and bwrap binding the path, or mkdir of .claude, would follow it.
# bwrap binds the descriptor itself; everything below is checked and created relative to it.

# shellcheck source=launcher/bubblewrap/lib/mounts-git.sh
source "$csbx_dir/lib/mounts-git.sh"

# Names never searched for repositories or .claude dirs: package trees, big and never a project of
# their own.
csbx_nested_skip=' node_modules bower_components '

csbx_fs_project() {
  csbx_phost=/proc/self/fd/$project_fd
  csbx_base_src[$project]=$csbx_phost
  bw+=(--bind-fd "$project_fd" "$project")
  csbx_hook_srcs=()
  # The project's own .claude first: what is read-only as a whole is never pinned writable by a
  # script named inside it.
  csbx_fs_claude_dir ''
  csbx_git_global
  csbx_git_repo ''
  csbx_fs_nested
  csbx_fs_hook_paths
  return 0
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

# Repositories and .claude dirs below the project, present at launch, within two levels (a directory of
# repositories, a monorepo's packages/*): protected like the project's own. Bounded so the launch stays
# cheap: a glob per level, no walk of package trees, 32 of each. Deeper ones, and those created while a
# sandbox runs, are the sandbox's (README, "Known limits").
csbx_fs_nested() {
  local d e name repos=0 claudes=0 dirs=()
  for d in "$csbx_phost"/*/; do
    name=${d%/}
    name=${name##*/}
    [[ $csbx_nested_skip != *" $name "* && ! -L ${d%/} ]] || continue
    dirs+=("$name")
    for e in "$d"*/; do
      e=${e%/}
      name=${e##*/}
      [[ $csbx_nested_skip != *" $name "* && ! -L $e ]] || continue
      dirs+=("${e#"$csbx_phost"/}")
    done
  done
  for d in "${dirs[@]}"; do
    if [[ -e $csbx_phost/$d/.git ]]; then
      if ((++repos <= 32)); then
        csbx_git_repo "$d"
      elif ((repos == 33)); then
        csbx_warn "more than 32 git repositories in $project: those after $d are not protected from the sandbox (their hooks and config stay writable)"
      fi
    fi
    if [[ -e $csbx_phost/$d/.claude || -e $csbx_phost/$d/.mcp.json ]]; then
      if ((++claudes <= 32)); then
        csbx_fs_claude_dir "$d"
      elif ((claudes == 33)); then
        csbx_warn "more than 32 Claude settings dirs in $project: those after $d are not kept read-only"
      fi
    fi
  done
  return 0
}

# Scripts the host's claude runs by a path in the project, named by the commands of the project's
# settings (and nested ones) and .mcp.json, and by the user's own settings (their hooks run with the
# project as working directory too): every file they name is read-only inside, a script they name that
# does not exist is created empty first (lib/hooks.sh says which words count).
csbx_fs_hook_paths() {
  local f=$HOME/.claude
  csbx_hook_srcs+=(settings "$f/settings.json" "$f/settings.json" "$project"
    settings "$f/settings.local.json" "$f/settings.local.json" "$project"
    settings /etc/claude-code/managed-settings.json /etc/claude-code/managed-settings.json "$project")
  # Loaded only when some file exists (most projects have none with commands).
  local i any=0
  for ((i = 1; i < ${#csbx_hook_srcs[@]}; i += 4)); do
    if [[ -s ${csbx_hook_srcs[i]} ]]; then
      any=1
      break
    fi
  done
  ((any)) || return 0
  # shellcheck source=launcher/bubblewrap/lib/hooks.sh
  source "$csbx_dir/lib/hooks.sh"
  csbx_hooks_collect "$state/hooks.cache" "${csbx_hook_srcs[@]}"
  local role p csbx_rel csbx_normed csbx_host
  for ((i = 0; i < ${#csbx_hook_cand[@]}; i += 2)); do
    role=${csbx_hook_cand[i]} p=${csbx_hook_cand[i + 1]}
    csbx_proj_rel "$p" || continue
    [[ -n $csbx_rel ]] || continue
    p=$csbx_phost/$csbx_rel
    if [[ -f $p ]]; then
      csbx_ro_under "$project" "$csbx_rel"
    elif [[ -d $p ]]; then
      # A directory is code only where a script goes (node dir/, python3 dir/); elsewhere (a prettier
      # target) it is the agent's work.
      [[ $role == s ]] && csbx_ro_under "$project" "$csbx_rel"
    elif [[ $role == s && ! -L $p ]] && ! csbx_below_ro "$project/$csbx_rel"; then
      csbx_ro_named "$project" "$csbx_rel"
    fi
  done
  return 0
}
