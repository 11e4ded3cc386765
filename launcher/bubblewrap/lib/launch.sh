# shellcheck shell=bash
# What runs inside (the entry), and starting a new sandbox in one of three ways:
#   network off            bwrap --unshare-net, exec'd directly
#   network on, not root   pasta makes user+net namespaces and runs bwrap inside them
#   network on, root       pasta refuses to make namespaces for root, so bwrap starts blocked, pasta
#                          attaches to its namespaces, then bwrap is released
# In every case pasta runs with --no-map-gw and no port forwarding, so the host's loopback services
# (127.0.0.1, the gateway address) are out of reach while the internet is not.

csbx_build_entry() {
  uid=$EUID
  gid=${GROUPS[0]:-$EUID}
  sbx_runtime_dir=/run/user/$uid
  # The Nix build puts the spec's packages on the launcher's PATH; the store is visible inside, so those
  # entries carry over (after CLAUDE_SANDBOX_PATH, before the host's /usr). Fork-free PATH walk.
  local store_path='' d dirs=()
  if [[ -d /nix/store ]]; then
    IFS=: read -r -a dirs <<<"${PATH-}"
    for d in "${dirs[@]}"; do
      [[ $d == /nix/store/* ]] && store_path+=$d:
    done
  fi
  sbx_path=${CLAUDE_SANDBOX_PATH:+$CLAUDE_SANDBOX_PATH:}/run/claude-sandbox/bin:$store_path/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin:$HOME/.local/bin
  if ((opt_shell)); then
    entry=(bash "${agent_args[@]}")
    return 0
  fi
  local agent=${CLAUDE_SANDBOX_AGENT:-claude}
  [[ -n $agent ]] || csbx_die 1 "CLAUDE_SANDBOX_AGENT is empty; unset it or name the agent command"
  if [[ $agent == */* ]]; then
    [[ $agent == /* ]] || csbx_die 1 "CLAUDE_SANDBOX_AGENT='$agent' must be a bare command name or an absolute path"
    [[ -x $agent ]] || csbx_die 1 "agent '$agent' is not an executable file"
  elif ! csbx_on_sandbox_path "$agent"; then
    csbx_die 127 "agent '$agent' is not on the sandbox PATH ($sbx_path). Install it where the sandbox sees it (e.g. claude-sandbox --shell ${project@Q} -- -c 'npm install -g --prefix ~/.local @anthropic-ai/claude-code') or set CLAUDE_SANDBOX_AGENT to an absolute path inside the project"
  fi
  entry=("$agent")
  if [[ ${agent##*/} == claude ]]; then
    entry+=(--append-system-prompt "$spec_notice"$'\n\n'"The project directory is $project.")
  fi
  entry+=("${agent_args[@]}")
}

# Looks for an executable on the sandbox PATH, seen from the host (~/.local/bin is the state's copy).
csbx_on_sandbox_path() {
  local dirs d
  IFS=: read -r -a dirs <<<"$sbx_path"
  for d in "${dirs[@]}"; do
    [[ $d == "$HOME/.local/bin" ]] && d=$state/local/bin
    [[ -x $d/$1 && ! -d $d/$1 ]] && return 0
  done
  return 1
}

csbx_build_bwrap() {
  csbx_build_env
  csbx_build_mounts
  local hostname
  # The same host name inside, because X cookies of local displays are keyed by it.
  IFS= read -r hostname </proc/sys/kernel/hostname || hostname=claude-sandbox
  bw+=(--unshare-user --unshare-pid --unshare-ipc --unshare-uts --unshare-cgroup-try
    --hostname "$hostname" --uid "$uid" --gid "$gid"
    --new-session --cap-drop ALL --chdir "$project")
  ((opt_network)) || bw+=(--unshare-net)
  ((opt_die_with_parent)) && bw+=(--die-with-parent)
  return 0
}

# Every new sandbox needs a user namespace (bwrap's, and pasta's for a user with network). When the
# kernel refuses them, bwrap, unshare or pasta would each fail with a bare errno; say what is wrong and
# how to fix it instead. Two sysctl reads, no fork.
csbx_check_userns() {
  local max='' clone='' sudo=''
  ((uid == 0)) || sudo='sudo '
  IFS= read -r max 2>/dev/null </proc/sys/user/max_user_namespaces || max=''
  if [[ $max == 0 ]]; then
    csbx_die 1 "user namespaces are disabled (user.max_user_namespaces = 0), and the sandbox is built on them. Enable them: ${sudo}sysctl -w user.max_user_namespaces=15000 (persist it in /etc/sysctl.d/); inside a container, allow user namespaces there. Run 'claude-sandbox doctor' to check everything"
  fi
  if ((uid != 0)); then
    IFS= read -r clone 2>/dev/null </proc/sys/kernel/unprivileged_userns_clone || clone=''
    if [[ $clone == 0 ]]; then
      csbx_die 1 "unprivileged user namespaces are switched off (kernel.unprivileged_userns_clone = 0), and the sandbox is built on them. Enable them: sudo sysctl -w kernel.unprivileged_userns_clone=1 (persist it in /etc/sysctl.d/). Run 'claude-sandbox doctor' to check everything"
    fi
  fi
  return 0
}

# Sets csbx_pasta to the command that starts pasta ($tool_pasta must be set). Debian 12's pasta exits
# with "Couldn't install signal handlers" when it inherits SIGPIPE ignored (it takes signal()'s
# previous disposition for an error), as under a Python caller; a script cannot un-ignore a signal
# ignored on entry, so env resets it then. Read from our own /proc status: no fork otherwise.
csbx_pasta_argv() {
  csbx_pasta=("$tool_pasta")
  local status='' re='SigIgn:[[:space:]]*([0-9a-fA-F]+)' tool_env
  IFS= read -r -d '' status 2>/dev/null </proc/self/status || true
  if [[ $status =~ $re ]] && ((16#${BASH_REMATCH[1]} & (1 << 12))); then
    csbx_tool env
    csbx_pasta=("$tool_env" --default-signal=PIPE -- "$tool_pasta")
  fi
}

csbx_pasta_opts=(--config-net --no-map-gw -T none -U none -t none -u none --quiet)

csbx_launch() {
  csbx_check_userns
  csbx_build_bwrap
  if ((opt_tmux)); then
    csbx_launch_tmux
  fi
  csbx_interactive_signals
  csbx_exec_sandbox "${entry[@]}"
}

# With --new-session the sandbox has no controlling terminal, so Ctrl-C, Ctrl-\ and Ctrl-Z at the
# user's terminal signal only the processes outside (bwrap's monitor, pasta): by default that would kill
# the monitor and leave the sandbox reading the terminal behind the user's shell. When stdin is a
# terminal those keys are ignored outside, and the payload gets the default dispositions back (an
# ignored signal stays ignored across exec). Claude Code reads them as keys in raw mode either way.
csbx_interactive_signals() {
  [[ -t 0 ]] || return 0
  trap '' INT QUIT TSTP
  local signals=INT,QUIT,TSTP
  entry=(env "--default-signal=$signals" -- "${entry[@]}")
}

# A pipe in both directions on one fd, without mkfifo or coproc (bash closes coproc fds, and their
# dups, in every child it starts): opening a pipe through /dev/fd with O_RDWR gives a new end of it.
# Sets the variable named $1.
csbx_open_pipe() {
  local -n csbx_pipe_fd=$1
  exec {csbx_pipe_fd}<> <(:)
}

# Starts the sandbox running "$@" and does not return. Unless --new, a writer beside bwrap registers it.
csbx_exec_sandbox() {
  local register=$((!opt_new)) info tool_bwrap tool_pasta tool_unshare
  csbx_tool bwrap
  if ((opt_network)) && ((uid == 0)); then
    csbx_exec_attached "$@"
  fi
  local pre=() how=direct
  if ((opt_network)); then
    csbx_tool pasta
    csbx_pasta_argv
    pre=("${csbx_pasta[@]}" "${csbx_pasta_opts[@]}" --)
    how=pasta
    if ((opt_die_with_parent)); then
      # bwrap's parent is pasta here, which would outlive our caller: tie pasta to the caller too
      # (the death signal survives the exec into pasta).
      local tool_setpriv
      csbx_tool setpriv
      pre=("$tool_setpriv" --pdeathsig KILL -- "${pre[@]}")
    fi
  elif ((uid != 0)); then
    # For a non-root user bwrap nests a second user namespace (to map the uid back after mounting
    # devpts); the sandbox's mount, pid and ipc namespaces belong to the first one, which no process
    # keeps. Starting bwrap inside a user namespace of our own gives `--enter` an ancestor of both to
    # join first (the same shape pasta gives the network case). unshare execs bwrap without forking.
    csbx_tool unshare
    pre=("$tool_unshare" --user --map-root-user --)
  fi
  csbx_apply_env
  if ((register)); then
    # The writer needs the pid that will become bwrap or pasta: this shell's own ($$ is the top-level
    # launcher's, not this one's in the --tmux subshell).
    local me=$BASHPID
    # Backgrounded inside the substitution so the writer is not a child of pasta (pasta, seeing a
    # child it did not start, could hang after the sandbox ended); stdin stays the info pipe.
    exec {info}> >(csbx_registry_writer "$how" "$me" <&0 &)
    exec "${pre[@]}" "$tool_bwrap" "${bw[@]}" --info-fd 3 -- "$@" 3>&"$info" {info}>&-
  fi
  exec "${pre[@]}" "$tool_bwrap" "${bw[@]}" -- "$@"
}

# Root with network: pasta will not make namespaces for root, but attaching works. bwrap starts held on
# --block-fd, pasta joins its user and network namespaces, then bwrap is released.
csbx_exec_attached() {
  # This shell stays bwrap's parent (it releases it after pasta attached, then waits), so with
  # --die-with-parent the shell itself must die with its caller: run again under setpriv --pdeathsig.
  # (exec keeps the pid, so the marker names this very process once it runs again.)
  if ((opt_die_with_parent)) && [[ ${CLAUDE_SANDBOX_PDEATHSIG-} != "$BASHPID" ]]; then
    local tool_setpriv
    csbx_tool setpriv
    CLAUDE_SANDBOX_PDEATHSIG=$BASHPID exec "$tool_setpriv" --pdeathsig KILL -- \
      "$csbx_dir/${csbx_self##*/}" "${csbx_args[@]}"
  fi
  local block info tool_pasta tool_env
  csbx_tool pasta
  csbx_tool env
  csbx_apply_env
  csbx_open_pipe block
  csbx_open_pipe info
  # A background job in a script starts with SIGINT/SIGQUIT ignored and stdin on /dev/null: env
  # restores the default signals, and <&0 keeps the caller's stdin (the agent's terminal).
  "$tool_env" --default-signal=INT,QUIT "$tool_bwrap" "${bw[@]}" --unshare-net --info-fd 3 --block-fd 4 -- "$@" 3>&"$info" 4<&"$block" <&0 &
  local bw_pid=$! line pid=''
  until [[ -n $pid ]]; do
    if IFS= read -r -t 0.2 -u "$info" line; then
      [[ $line =~ \"child-pid\":\ *([0-9]+) ]] && pid=${BASH_REMATCH[1]}
    elif ! kill -0 "$bw_pid" 2>/dev/null; then
      local status=0
      wait "$bw_pid" || status=$?
      exit "$status"
    fi
  done
  csbx_wait_setup "$pid" || csbx_die 1 "the sandbox did not finish its setup; run 'claude-sandbox doctor'"
  # pasta stays in the foreground as our child, tied to this shell by a death signal: an attached pasta
  # does not quit when the namespace goes away, and a daemonized one would outlive a killed launcher.
  # It writes its pid file once the namespace is configured: that is the readiness signal.
  local pidfile=$state/pasta.$BASHPID.pid pasta_pid tool_setpriv deadline=$((EPOCHSECONDS + 10))
  csbx_tool setpriv
  rm -f -- "$pidfile"
  csbx_pasta_argv
  "$tool_setpriv" --pdeathsig KILL -- "${csbx_pasta[@]}" "${csbx_pasta_opts[@]}" --foreground --runas 0 \
    --pid "$pidfile" --userns "/proc/$pid/ns/user" --netns "/proc/$pid/ns/net" &
  pasta_pid=$!
  until [[ -s $pidfile ]]; do
    if ! kill -0 "$pasta_pid" 2>/dev/null || ((EPOCHSECONDS >= deadline)); then
      kill -KILL "$pasta_pid" "$pid" 2>/dev/null || true
      wait "$bw_pid" || true
      csbx_die 1 "pasta could not attach to the sandbox's network namespace; run 'claude-sandbox doctor' or use --no-network"
    fi
    # read -t on our own info pipe (opened read-write, so never at EOF) is a fork-free sleep.
    read -r -t 0.002 -u "$info" line || true
  done
  rm -f -- "$pidfile"
  csbx_pasta_pid=$pasta_pid
  ((opt_new)) || csbx_write_registry "$pid"
  printf x >&"$block"
  exec {info}>&- {block}>&-
  local status=0
  wait "$bw_pid" || status=$?
  kill "$pasta_pid" 2>/dev/null || true
  exit "$status"
}

csbx_tmux_session_name() {
  local n=sandbox-$project_base
  printf '%s' "${n//[.:]/_}"
}

# --tmux: the sandbox's payload is a tmux server holding the agent. The server is the agent's to
# control, and a tmux server can make its clients run commands (`detach-client -E`, or an unasked
# MSG_SHELL reply to any client command), so no tmux client ever talks to that socket from the host:
# waiting for the session and attaching both happen inside the sandbox, joined like --enter. With a
# terminal the launcher attaches; without one it returns once the session exists and says how to attach
# (`claude-sandbox --tmux DIR`, which joins and attaches from inside). Detaching leaves it running.
csbx_launch_tmux() {
  if ((opt_new)); then
    csbx_die 2 "--tmux keeps one tmux session per project and cannot be combined with --new; attach to it with: claude-sandbox --tmux ${project@Q}"
  fi
  csbx_on_sandbox_path tmux || csbx_die 1 "tmux is not installed where the sandbox sees it; install it (Debian: apt-get install tmux) or run without --tmux"
  local name sock=$state/tmux.d/sock
  name=$(csbx_tmux_session_name)
  # shellcheck disable=SC2016 # the inner script's $1..$@ are its own arguments
  local inner=(bash -c 'tmux -S "$1" -f "$2" new-session -d -s "$3" -x 200 -y 50 -- "${@:4}" || exit
exec tmux -S "$1" wait-for claude-sandbox-keepalive' claude-sandbox-tmux "$sock" "$state/tmux.conf" "$name" "${entry[@]}")
  (csbx_exec_sandbox "${inner[@]}") </dev/null >/dev/null 2>>"$state/tmux.log" &
  local bg=$! deadline=$((EPOCHSECONDS + 15))
  # The registry (written by the host launcher, out of the sandbox's reach) says when it can be joined.
  until csbx_find_live; do
    if ! kill -0 "$bg" 2>/dev/null || ((EPOCHSECONDS >= deadline)); then
      csbx_die 1 "the tmux session did not start; see $state/tmux.log"
    fi
    sleep 0.02
  done
  if ! csbx_tmux_in_sandbox wait "$name"; then
    csbx_die 1 "the tmux session did not start; see $state/tmux.log"
  fi
  csbx_tmux_attach "$name"
}

# csbx_tmux_in_sandbox wait|has NAME: inside the live sandbox, waits up to 15 s for (wait) or checks once
# for (has) the tmux session NAME. Runs in a subshell because joining execs.
csbx_tmux_in_sandbox() {
  local tries=1
  [[ $1 == wait ]] && tries=750
  # shellcheck disable=SC2016 # the inner script's $1.. are its own arguments
  (
    opt_enter=1
    entry=(bash -c 'for ((i = 0; i < $3; i++)); do
  tmux -S "$1" has-session -t "=$2" 2>/dev/null && exit 0
  ((i + 1 < $3)) && sleep 0.02
done
exit 1' claude-sandbox-tmux-wait "$state/tmux.d/sock" "$2" "$tries")
    csbx_join
  ) </dev/null >/dev/null 2>&1
}

# Attaches to the session NAME with a tmux client that runs inside the sandbox, when there is a
# terminal; otherwise says how to attach later.
csbx_tmux_attach() {
  if [[ -t 0 && -t 1 ]]; then
    opt_enter=1
    entry=(tmux -S "$state/tmux.d/sock" attach-session -t "=$1")
    # The client inside runs in a session of its own (no TIOCSTI into this terminal), so the kernel's
    # SIGWINCH on a resize reaches only us, in the terminal's foreground group: pass it on to the
    # processes of the join, which stays our child for that. <&0: a background job gets /dev/null.
    (csbx_join) <&0 &
    local join=$! status=0
    # shellcheck disable=SC2064 # the pid is fixed now
    trap "csbx_signal_tree WINCH $join" WINCH
    while :; do
      status=0
      wait "$join" || status=$?
      # wait returns early (status > 128) when a trap ran; the join may still be running.
      kill -0 "$join" 2>/dev/null || break
    done
    exit "$status"
  fi
  printf 'Sandbox tmux session %s is running. Attach with: claude-sandbox --tmux %q\n' "$1" "$project"
  exit 0
}

# A live sandbox and --tmux: attach to its session when it has one, else join it as usual.
csbx_tmux_attach_live() {
  local name
  uid=$EUID
  name=$(csbx_tmux_session_name)
  if csbx_tmux_in_sandbox has "$name"; then
    csbx_tmux_attach "$name"
  fi
}

# csbx_signal_tree SIGNAL PID: sends SIGNAL to the processes below PID (not PID itself), read from
# /proc without forking.
csbx_signal_tree() {
  local todo=("$2") kids=() p k
  while ((${#todo[@]})); do
    p=${todo[-1]}
    unset 'todo[-1]'
    kids=()
    read -r -a kids 2>/dev/null <"/proc/$p/task/$p/children" || true
    for k in "${kids[@]}"; do
      kill "-$1" "$k" 2>/dev/null || true
      todo+=("$k")
    done
  done
}
