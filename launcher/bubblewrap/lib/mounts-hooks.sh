# shellcheck shell=bash
# Scripts in the project that the commands of Claude settings name (sourced by mounts-project.sh when a
# settings file exists; csbx_hook_srcs lists them, with the directory each one's commands run in).

# Scripts the host's claude runs by a path in the project, named by the commands of the project's
# settings (and nested ones) and .mcp.json, and by the user's own settings (their hooks run with the
# project as working directory too): every file they name is read-only inside, a script they name that
# does not exist is created empty first (lib/hooks.sh says which words count). Parsing the commands costs
# bash some milliseconds, so what they name is kept in the state dir (which no sandbox sees), keyed by
# the files' whole text: a changed file is parsed again, whatever its timestamps say.
# csbx_fs_hook_paths FIRST: FIRST is the index in csbx_hook_srcs of the first entry whose file is not
# empty (mounts-project.sh found it; those before it need no second look).
csbx_fs_hook_paths() {
  local i file text key=$'csbx-hooks-2\x02'$HOME srcs=()
  for ((i = $1; i < ${#csbx_hook_srcs[@]}; i += 4)); do
    file=${csbx_hook_srcs[i + 1]}
    [[ -s $file && -f $file ]] || continue
    text=''
    IFS= read -r -d '' text <"$file" || true
    # Only files with a command-bearing key can name anything.
    [[ $text == *'"command"'* || $text == *'Helper"'* || $text == *'"awsAuthRefresh"'* || $text == *'"awsCredentialExport"'* ]] ||
      continue
    srcs+=("${csbx_hook_srcs[i]}" "${csbx_hook_srcs[i + 2]}" "${csbx_hook_srcs[i + 3]}" "$text")
    key+=$'\x02'${csbx_hook_srcs[i]}$'\x02'${csbx_hook_srcs[i + 2]}$'\x02'${csbx_hook_srcs[i + 3]}$'\x02'$text
  done
  ((${#srcs[@]})) || return 0
  local cache=$state/hooks.cache rec=()
  [[ -f $cache ]] && { mapfile -d '' -t rec <"$cache" 2>/dev/null || rec=(); }
  if ((${#rec[@]} >= 2)) && [[ ${rec[0]} == "$key" && ${rec[-1]} == end ]]; then
    csbx_hook_cand=("${rec[@]:1:${#rec[@]}-2}")
  else
    # shellcheck source=launcher/bubblewrap/lib/hooks.sh
    source "$csbx_dir/lib/hooks.sh"
    csbx_hooks_parse "${srcs[@]}"
    # Written whole, then renamed: a concurrent launch reads the old cache or the new one.
    if printf '%s\0' "$key" "${csbx_hook_cand[@]}" end >"$cache.$BASHPID" 2>/dev/null; then
      mv -f -- "$cache.$BASHPID" "$cache" 2>/dev/null || rm -f -- "$cache.$BASHPID"
    fi
  fi
  local role p csbx_rel csbx_normed
  for ((i = 0; i + 1 < ${#csbx_hook_cand[@]}; i += 2)); do
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
