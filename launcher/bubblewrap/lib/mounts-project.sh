# shellcheck shell=bash
# shellcheck disable=SC2004 # csbx_pinned is an associative array (mounts-checked.sh), not arithmetic
# The project directory and what the host later runs from it (sourced by mounts.sh).

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

