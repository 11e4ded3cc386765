# shellcheck shell=bash
# The sandbox's environment: only what is listed here. sbx_env holds NAME=VALUE entries; the same
# list is replayed for shells that join a live sandbox.
#
# The host environment never reaches the sandbox, not even names bash cannot unset: bash passes an
# inherited entry whose name is not an identifier (`AWS-SECRET=…`) through to every child, and
# `export -n` cannot remove it. So the launcher execs its tools with an empty environment (`exec -c`)
# and the sandbox's list travels on a pipe: to bwrap as `--clearenv --setenv NAME VALUE …` through
# `--args FD`, to a joining shell as NUL-separated entries. Not on a command line, because every
# local user can read those through /proc/PID/cmdline, and values such as ANTHROPIC_API_KEY or
# GH_TOKEN must not appear there.

# csbx_env_add NAME VALUE
csbx_env_add() {
  sbx_env+=("$1=$2")
}

# Host variables named by the spec's allowlist; "PREFIX*" entries match every exported variable with
# that prefix. ${!PREFIX@} lists them without a fork but takes the prefix only as literal code, hence the
# one eval, of a prefix checked to be an identifier first (no other character can reach it).
csbx_env_from_allowlist() {
  local pat name names
  for pat in "$@"; do
    if [[ $pat == *'*' ]]; then
      pat=${pat%'*'}
      [[ $pat =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
      eval "names=(\${!${pat}@})" # pat is checked to be an identifier just above
      for name in "${names[@]}"; do
        [[ ${!name@a} == *x* && -n ${!name} ]] && csbx_env_add "$name" "${!name}"
      done
    else
      [[ $pat =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
      [[ -v $pat && ${!pat@a} == *x* && -n ${!pat} ]] && csbx_env_add "$pat" "${!pat}"
    fi
  done
  return 0
}

csbx_build_env() {
  sbx_env=()
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

# A pipe in both directions on one fd, without mkfifo or coproc (bash closes coproc fds, and their
# dups, in every child it starts): opening a pipe through /dev/fd with O_RDWR gives a new end of it.
# The pipe is bash's own for a small here-string (bash >= 5.1; its one newline is read off first), so
# no fork; older bash makes a temp file there, and then a process substitution gives the pipe.
# Sets the variable named $1.
csbx_open_pipe() {
  local -n csbx_pipe_fd=$1
  local h nl
  exec {h}<<<''
  if [[ -p /dev/fd/$h ]]; then
    read -r -u "$h" nl || true
    exec {csbx_pipe_fd}<>"/dev/fd/$h" {h}<&-
  else
    exec {h}<&- {csbx_pipe_fd}<> <(:)
  fi
}

# csbx_data_fd VAR ITEM...: opens a read-only fd (its number in VAR) from which the ITEMs can be read,
# each followed by a NUL, then EOF. A pipe, so nothing lands on disk; filled before anyone reads it,
# so it must fit the pipe's buffer, which is a single page when the user is over
# fs.pipe-user-pages-soft: more than that goes through a file in the private state dir, removed once
# open (a fork, so only then).
csbx_data_fd() {
  local -n csbx_data_fd_out=$1
  shift
  local data rw
  # A bash string cannot hold NUL bytes: measure the size with one-byte stand-ins.
  printf -v data '%s.' "$@"
  if ((${#data} <= 4096)); then
    csbx_open_pipe rw
    exec {csbx_data_fd_out}<"/dev/fd/$rw"
    printf '%s\0' "$@" >&"$rw"
    exec {rw}>&-
  else
    local f=$state/.data.$BASHPID
    printf '%s\0' "$@" >"$f"
    exec {csbx_data_fd_out}<"$f"
    rm -f -- "$f"
  fi
}

# Sets csbx_env_fd to an fd holding bwrap arguments that give the sandbox exactly sbx_env.
csbx_env_args_fd() {
  local kv setenv=(--clearenv)
  for kv in "${sbx_env[@]}"; do
    setenv+=(--setenv "${kv%%=*}" "${kv#*=}")
  done
  csbx_data_fd csbx_env_fd "${setenv[@]}"
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
