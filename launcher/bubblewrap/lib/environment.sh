# shellcheck shell=bash
# The sandbox's environment: only what is listed here. sbx_env holds NAME=VALUE entries; the same
# list is replayed for shells that join a live sandbox.
#
# The launcher clears its own environment and exports exactly this list before it execs bwrap (rather
# than `bwrap --clearenv --setenv NAME VALUE`), because a command line is readable by every local user
# through /proc/PID/cmdline and values such as ANTHROPIC_API_KEY or GH_TOKEN must not appear there.

# csbx_env_add NAME VALUE
csbx_env_add() {
  sbx_env+=("$1=$2")
}

# Names of all exported variables, without forking (compgen would need a subshell to capture):
# ${!X@} lists the variables starting with a literal X, so one expansion per possible first character
# covers them all. Sets csbx_exported.
csbx_list_exported() {
  csbx_exported=()
  local n
  # ${!n@a} of a declared-but-unset variable trips `set -u`; attributes are all that is asked here.
  set +u
  for n in ${!A@} ${!B@} ${!C@} ${!D@} ${!E@} ${!F@} ${!G@} ${!H@} ${!I@} ${!J@} ${!K@} ${!L@} ${!M@} \
    ${!N@} ${!O@} ${!P@} ${!Q@} ${!R@} ${!S@} ${!T@} ${!U@} ${!V@} ${!W@} ${!X@} ${!Y@} ${!Z@} \
    ${!a@} ${!b@} ${!c@} ${!d@} ${!e@} ${!f@} ${!g@} ${!h@} ${!i@} ${!j@} ${!k@} ${!l@} ${!m@} \
    ${!n@} ${!o@} ${!p@} ${!q@} ${!r@} ${!s@} ${!t@} ${!u@} ${!v@} ${!w@} ${!x@} ${!y@} ${!z@} ${!_@}; do
    [[ ${!n@a} == *x* ]] && csbx_exported+=("$n")
  done
  set -u
}

# Host variables named by the spec's allowlist; "PREFIX*" entries match every variable with that prefix.
csbx_env_from_allowlist() {
  local pat name
  for pat in "$@"; do
    if [[ $pat == *'*' ]]; then
      for name in "${csbx_exported[@]}"; do
        [[ $name == "${pat%'*'}"* && -n ${!name} ]] && csbx_env_add "$name" "${!name}"
      done
    else
      [[ $pat =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
      [[ -v $pat && -n ${!pat} ]] && csbx_env_add "$pat" "${!pat}"
    fi
  done
  return 0
}

csbx_build_env() {
  sbx_env=()
  csbx_list_exported
  csbx_env_add HOME "$HOME"
  csbx_env_add PATH "$sbx_path"
  csbx_env_add TERM "${TERM:-xterm-256color}"
  csbx_env_add SHELL /bin/bash
  csbx_env_add XDG_RUNTIME_DIR "$sbx_runtime_dir"
  csbx_env_add CLAUDE_SANDBOX 1
  csbx_env_add CLAUDE_SANDBOX_BACKEND bubblewrap
  csbx_env_add CLAUDE_SANDBOX_STATE_DIR "$state"
  csbx_env_add CLAUDE_SANDBOX_PROJECT_DIR "$project"
  csbx_env_add CHROMIUM_USER_DATA_DIR "$state/chromium"
  local skip=" TERM HOME PATH DISPLAY XAUTHORITY "
  local pat allow=()
  for pat in "${spec_env[@]}"; do
    # DISPLAY/XAUTHORITY are set by the display code only when their sockets are really forwarded.
    [[ $skip == *" $pat "* ]] || allow+=("$pat")
  done
  csbx_env_from_allowlist "${allow[@]}"
  if ((opt_gh_token)); then
    csbx_env_from_allowlist "${spec_ghenv[@]}"
  fi
}

# Replaces the process environment with sbx_env. Host tools the launcher still runs afterwards are
# resolved first (csbx_tool), because PATH becomes the sandbox's.
csbx_apply_env() {
  local n kv
  csbx_list_exported
  for n in "${csbx_exported[@]}"; do
    # shellcheck disable=SC2163 # the variable named by $n is meant
    export -n -- "$n" 2>/dev/null || true
  done
  for kv in "${sbx_env[@]}"; do
    # shellcheck disable=SC2163 # NAME=VALUE entries
    export -- "$kv"
  done
}

# csbx_tool NAME: absolute path of a host command (fork-free lookup through bash's hash table), or
# exit with a fix when it is missing.
csbx_tool() {
  local -n csbx_tool_out=tool_$1
  if hash "$1" 2>/dev/null; then
    csbx_tool_out=${BASH_CMDS[$1]}
  else
    case $1 in
      pasta) csbx_die 1 "pasta is not installed, so the sandbox cannot get a private network; install it (Debian: apt-get install passt) or run with --no-network" ;;
      bwrap) csbx_die 1 "bwrap is not installed; install bubblewrap (Debian: apt-get install bubblewrap)" ;;
      *) csbx_die 1 "$1 is not installed; run 'claude-sandbox doctor' for what to install" ;;
    esac
  fi
}
