# shellcheck shell=bash
# shellcheck disable=SC2004 # csbx_pinned is an associative array, not arithmetic
# The parts of mounts-git.sh only some repositories need: reading git config files, linked worktrees,
# submodules, .git files (sourced by csbx_git_more).

# csbx_git_value RAW: sets csbx_gv to a git config value as git reads it (quotes, escapes, comments).
csbx_git_value() {
  local s=$1 out='' ws='' q=0 c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    if [[ $c == \\ ]]; then
      ((++i))
      c=${s:i:1}
      case $c in
        n) c=$'\n' ;;
        t) c=$'\t' ;;
        b) c='' ;;
      esac
      out+=$ws$c
      ws=''
    elif ((q)); then
      [[ $c == '"' ]] && q=0 || out+=$c
    else
      case $c in
        '"')
          out+=$ws
          ws=''
          q=1
          ;;
        '#' | ';') break ;;
        ' ' | $'\t') [[ -n $out ]] && ws+=$c ;;
        *)
          out+=$ws$c
          ws=''
          ;;
      esac
    fi
  done
  csbx_gv=$out
}

# csbx_git_config FILE: what matters here from one git config file, includes followed (depth 3): appends
# core.hooksPath values to csbx_gc_hooks, the absolute paths of included files to csbx_gc_includes and
# submodule paths (.gitmodules) to csbx_gc_subpaths,
# sets csbx_gc_wtconfig to 1 when extensions.worktreeConfig is on and csbx_gc_worktree to core.worktree.
# Files without any of these keys are skipped after one substring test (the common case).
csbx_git_config() {
  local file=$1 depth=${2:-0} text lower line sect='' key raw has re_s re_k
  [[ -f $file && -r $file ]] || return 0
  IFS= read -r -d '' text <"$file" || true
  lower=${text,,}
  [[ $lower == *hookspath* || $lower == *include* || $lower == *worktree* || $lower == *submodule* ]] || return 0
  re_s='^\[[[:space:]]*([A-Za-z0-9.-]+)([[:space:]]+"([^"\\]|\\.)*")?[[:space:]]*\][[:space:]]*(.*)$'
  re_k='^([A-Za-z][A-Za-z0-9-]*)[[:space:]]*(=(.*))?$'
  local -a lines
  mapfile -t lines <<<"$text"
  local n=${#lines[@]} i
  for ((i = 0; i < n; i++)); do
    line=${lines[i]}
    line=${line#"${line%%[![:space:]]*}"}
    if [[ $line == '['* ]]; then
      [[ $line =~ $re_s ]] || continue
      sect=${BASH_REMATCH[1],,}
      # [section.subsection], the old form: only the section counts here.
      sect=${sect%%.*}
      line=${BASH_REMATCH[4]}
    fi
    [[ -n $line && $line != [#\;]* ]] || continue
    case $sect in
      core | include | includeif | extensions | submodule) ;;
      *) continue ;;
    esac
    [[ $line =~ $re_k ]] || continue
    key=$sect.${BASH_REMATCH[1],,}
    has=${BASH_REMATCH[2]}
    raw=${BASH_REMATCH[3]}
    # A value continued on the next line (an unquoted backslash at the end).
    while [[ $raw =~ (^|[^\\])(\\\\)*\\$ ]] && ((i + 1 < n)); do
      raw=${raw%\\}
      ((++i))
      raw+=${lines[i]}
    done
    case $key in
      core.hookspath | core.worktree | include.path | includeif.path | extensions.worktreeconfig | submodule.path) ;;
      *) continue ;;
    esac
    csbx_git_value "$raw"
    case $key in
      core.hookspath) [[ -n $csbx_gv ]] && csbx_gc_hooks+=("$csbx_gv") ;;
      core.worktree) csbx_gc_worktree=$csbx_gv ;;
      submodule.path) [[ -n $csbx_gv ]] && csbx_gc_subpaths+=("$csbx_gv") ;;
      extensions.worktreeconfig)
        if [[ -z $has || ${csbx_gv,,} == @(true|yes|on|1) ]]; then csbx_gc_wtconfig=1; else csbx_gc_wtconfig=0; fi
        ;;
      *)
        # include.path and includeIf.<condition>.path: every condition counts (we cannot know how git
        # will be run), relative to the including file.
        [[ -n $csbx_gv ]] || continue
        [[ $csbx_gv == \~ || $csbx_gv == \~/* ]] && csbx_gv=$HOME${csbx_gv#\~}
        [[ $csbx_gv == /* ]] || csbx_gv=${file%/*}/$csbx_gv
        csbx_gc_includes+=("$csbx_gv")
        ((depth < 3)) && csbx_git_config "$csbx_gv" $((depth + 1))
        ;;
    esac
  done
  return 0
}

# csbx_git_global_read: core.hooksPath, worktree config and included files from the user's and the system's
# git config (csbx_git_global found something there).
csbx_git_global_read() {
  csbx_gc_hooks=() csbx_gc_includes=() csbx_gc_wtconfig=0 csbx_gc_worktree='' csbx_gc_subpaths=()
  local f
  for f in /etc/gitconfig "${XDG_CONFIG_HOME:-$HOME/.config}/git/config" "$HOME/.gitconfig"; do
    csbx_git_config "$f"
  done
  csbx_git_global_hooks=("${csbx_gc_hooks[@]}")
  csbx_git_global_wtconfig=$csbx_gc_wtconfig
  csbx_git_includes "${csbx_gc_includes[@]}"
}

# csbx_git_dir_more G WT: the rest of csbx_git_dir, for a git dir whose config says more, or that has
# linked worktrees or submodules.
csbx_git_dir_more() {
  local g=$1 wt=$2 v
  csbx_gc_hooks=() csbx_gc_includes=() csbx_gc_wtconfig=$csbx_git_global_wtconfig csbx_gc_worktree=''
  local csbx_gc_subpaths=()
  csbx_git_config "$csbx_phost/$g/config"
  local hooks=("${csbx_gc_hooks[@]}") wtc=$csbx_gc_wtconfig worktree=$csbx_gc_worktree
  csbx_git_includes "${csbx_gc_includes[@]/#"$csbx_phost"/"$project"}"
  # config.worktree extends the config when extensions.worktreeConfig is on; then a missing one is
  # created empty, since the sandbox could create it.
  if ((wtc)); then
    csbx_ro_named "$project" "$g/config.worktree" "git reads as config"
    csbx_gc_hooks=() csbx_gc_includes=()
    csbx_git_config "$csbx_phost/$g/config.worktree"
    hooks+=("${csbx_gc_hooks[@]}")
    csbx_git_includes "${csbx_gc_includes[@]/#"$csbx_phost"/"$project"}"
  else
    csbx_ro_under "$project" "$g/config.worktree"
  fi
  # A submodule's git dir names its checkout (core.worktree, relative to the git dir).
  if [[ -n $worktree ]]; then
    local csbx_rel csbx_normed
    [[ $worktree == /* ]] || worktree=$project/$g/$worktree
    if csbx_proj_rel "$worktree"; then wt=$csbx_rel; else wt=-; fi
  fi
  if [[ $wt != - ]]; then
    # The checkout's .git file points git at this git dir: read-only, so it cannot be pointed elsewhere.
    [[ -f $csbx_phost${wt:+/$wt}/.git ]] && csbx_ro_under "$project" "${wt:+$wt/}.git"
    for v in "${hooks[@]}" "${csbx_git_global_hooks[@]}"; do csbx_git_hookspath "$wt" "$v"; done
    # Submodules checked out with a .git of their own (an existing repository added as one) keep their
    # git dir in the checkout, at any depth; the host's `git status` runs git in each.
    if [[ -f $csbx_phost${wt:+/$wt}/.gitmodules ]]; then
      local csbx_rel csbx_normed
      csbx_gc_hooks=() csbx_gc_includes=() csbx_gc_subpaths=()
      csbx_git_config "$csbx_phost${wt:+/$wt}/.gitmodules"
      for v in "${csbx_gc_subpaths[@]}"; do
        csbx_proj_rel "$project${wt:+/$wt}/$v" && [[ -n $csbx_rel ]] && csbx_git_repo "$csbx_rel"
      done
    fi
  fi
  csbx_git_worktrees "$g" "$wtc" "${hooks[@]}"
  [[ -d $csbx_phost/$g/modules ]] && csbx_git_modules "$g"
  return 0
}

# csbx_git_includes ABS...: included config files in the project are config: read-only, created empty when
# missing (git skips a missing include, so the sandbox could create it).
csbx_git_includes() {
  local f csbx_rel csbx_normed
  for f in "$@"; do
    csbx_proj_rel "$f" || continue
    [[ -n $csbx_rel ]] || continue
    csbx_ro_named "$project" "$csbx_rel" "git includes as config"
  done
}

# csbx_git_hookspath ROOT VALUE: a core.hooksPath VALUE for the worktree at ROOT. Git runs what is there
# on the host's commit, checkout, merge; read-only, created empty when missing. Husky's `.husky/_` runs
# `.husky/<hook>` (its `h` script), so for a path ending in `_` its parent is what is kept.
csbx_git_hookspath() {
  local root=$1 v=$2 csbx_rel csbx_normed
  [[ $v == \~ || $v == \~/* ]] && v=$HOME${v#\~}
  [[ $v == /* ]] || v=$project${root:+/$root}/$v
  csbx_proj_rel "$v" || return 0
  [[ -n $csbx_rel ]] || return 0
  [[ $csbx_rel == */_ ]] && csbx_rel=${csbx_rel%/_}
  if [[ ! -e $csbx_phost/$csbx_rel && ! -L $csbx_phost/$csbx_rel ]]; then
    csbx_mkdir_checked "$project" "$csbx_rel" || return 0
    csbx_note "created an empty $project/$csbx_rel (core.hooksPath), so that the sandbox cannot put hooks there"
  fi
  csbx_ro_under "$project" "$csbx_rel"
}

# csbx_git_worktrees G WTC HOOKSPATH...: G/worktrees holds the git dirs of the linked worktrees
# (`git worktree add`): each one's commondir says where the repository is, so a sandbox rewriting it
# (or creating one for a worktree the host adds while it runs) points the host's git in that worktree at
# a config it planted. The whole directory is read-only, created when missing; only the git dirs of
# worktrees checked out inside the project are writable again (so work there goes on), their
# commondir, gitdir and config.worktree and the checkout's .git file read-only. Adding a worktree is
# for the host.
csbx_git_worktrees() {
  local g=$1 wtc=$2 w=$1/worktrees a name line co n=0 v
  shift 2
  [[ -d $csbx_phost/$w && ! -L $csbx_phost/$w ]] || return 0
  local inside=() csbx_rel csbx_normed
  for a in "$csbx_phost/$w"/*/; do
    a=${a%/}
    name=${a##*/}
    [[ ! -L $a && -f $a/commondir ]] || continue
    ((++n <= 64)) || break
    line=''
    [[ -f $a/gitdir ]] && { IFS= read -r line <"$a/gitdir" || true; }
    [[ -n $line ]] || continue
    [[ $line == /* ]] || line=$project/$w/$name/$line
    csbx_proj_rel "${line%/*}" || continue
    [[ -n $csbx_rel ]] && inside+=("$name" "$csbx_rel")
  done
  csbx_ro_under "$project" "$w"
  [[ ${csbx_pinned[$project/$w]-} == ro ]] || return 0
  ((${#inside[@]})) || return 0
  # Read-only, yet the walk to the git dirs below goes on.
  csbx_pinned[$project/$w]=rodir
  local i
  for ((i = 0; i < ${#inside[@]}; i += 2)); do
    name=${inside[i]} co=${inside[i + 1]}
    csbx_bind_checked rw "$project/$w/$name" "$project"
    csbx_pinned[$project/$w/$name]=pin
    csbx_ro_under "$project" "$w/$name/commondir"
    csbx_ro_under "$project" "$w/$name/gitdir"
    if ((wtc)); then csbx_ro_named "$project" "$w/$name/config.worktree" "git reads as config"; else csbx_ro_under "$project" "$w/$name/config.worktree"; fi
    csbx_ro_under "$project" "$co/.git"
    for v in "$@" "${csbx_git_global_hooks[@]}"; do csbx_git_hookspath "$co" "$v"; done
  done
}

# Submodules keep their git dirs under G/modules/<name>; names may hold slashes, and submodules nest
# (<name>/modules/<name>, which csbx_git_dir of <name> walks). A git dir is a directory with a HEAD
# file. Bounded: 64 git dirs, 8 levels of name.
csbx_git_modules() {
  local queue=("$csbx_phost/$1/modules") next d found=0 depth
  for ((depth = 0; depth < 8 && ${#queue[@]} && found < 64; depth++)); do
    next=()
    for d in "${queue[@]}"; do
      [[ -d $d && ! -L $d ]] || continue
      if [[ -f $d/HEAD ]]; then
        ((found++ < 64)) || break
        csbx_git_dir "${d#"$csbx_phost"/}" -
      else
        next+=("$d"/*/)
      fi
    done
    queue=("${next[@]%/}")
  done
  return 0
}

# csbx_git_file REL: a .git file at project-relative REL points git at a git dir: read-only, and when that
# git dir lies in the project too, it is protected as one (a linked worktree's through its repository).
csbx_git_file() {
  local rel=$1 line target csbx_rel csbx_normed
  csbx_ro_under "$project" "$rel"
  line=''
  IFS= read -r line <"$csbx_phost/$rel" || true
  [[ $line == 'gitdir: '?* ]] || return 0
  target=${line#gitdir: }
  [[ $target == /* ]] || target=$project/${rel%.git}$target
  csbx_proj_rel "$target" || return 0
  target=$csbx_rel
  if [[ -f $csbx_phost/$target/commondir ]]; then
    IFS= read -r line <"$csbx_phost/$target/commondir" || true
    [[ -n $line ]] || return 0
    [[ $line == /* ]] || line=$project/$target/$line
    csbx_proj_rel "$line" || return 0
    csbx_git_dir "$csbx_rel" -
  else
    local wt=${rel%.git}
    csbx_git_dir "$target" "${wt%/}"
  fi
}

