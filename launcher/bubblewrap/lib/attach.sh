# shellcheck shell=bash
# Waiting for a sandbox's setup, and the root-with-network launch that needs it (pasta attached to a held
# bwrap). Sourced by those launches and by the registry writer only.

# Waits until bwrap's child PID has finished setting up, i.e. dropped its capabilities. Before that
# its namespaces are not final: for the user's own uid bwrap first maps uid 0 (to mount devpts) and
# then nests a second user namespace. Fails if the process goes away or takes more than 10 s.
csbx_wait_setup() {
  local tick status deadline=$((EPOCHSECONDS + 10))
  # read -t on a pipe nobody writes to is a sleep without a fork per tick. The first wait is longer:
  # bwrap's setup takes a few ms anyway, and this writer should not compete with it for the CPU (nor
  # spend a fork on a sandbox that is gone before it could be joined).
  csbx_open_pipe tick
  read -r -t 0.005 -u "$tick" status || true
  while ((EPOCHSECONDS < deadline)); do
    status=''
    IFS= read -r -d '' status 2>/dev/null <"/proc/$1/status"
    [[ -n $status ]] || return 1
    [[ $status =~ CapEff:[[:space:]]+0000000000000000 ]] && return 0
    read -r -t 0.002 -u "$tick" status || true
  done
  return 1
}

# Waits until the sandbox's init PID has forked the payload, the point from which it can be joined: bwrap
# drops its capabilities (what csbx_wait_setup sees), and waits on --block-fd, before that fork, and
# csbx_find_live takes an init without a child for a sandbox whose payload has ended. A registry written
# earlier looked dead to the launches waiting on the launch lock, which the registration lets go, so under
# load (or a low --cpu-weight, which starves the init) each of them founded a sandbox of its own. Returns 1
# when the init has ended, or is ending (a payload that exited at once), and 2 after 10 s.
csbx_wait_payload() {
  local tick kids='' status deadline=$((EPOCHSECONDS + 10))
  csbx_open_pipe tick
  while ((EPOCHSECONDS < deadline)); do
    read -r kids 2>/dev/null <"/proc/$1/task/$1/children" || true
    [[ -z $kids ]] || break
    status=''
    IFS= read -r -d '' status 2>/dev/null <"/proc/$1/status"
    [[ -n $status && ! $status =~ State:[[:space:]]+[ZX] ]] || break
    read -r -t 0.002 -u "$tick" status || true
  done
  exec {tick}<&-
  [[ -n $kids ]] && return 0
  ((EPOCHSECONDS < deadline)) && return 1
  return 2
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
    # The launch lock is let go: the launcher run again takes it anew.
    CLAUDE_SANDBOX_PDEATHSIG=$BASHPID exec "$tool_setpriv" --pdeathsig KILL -- \
      "$csbx_dir/${csbx_self##*/}" "${csbx_args[@]}" {csbx_lock_fd}>&-
  fi
  local block info tool_pasta tool_env csbx_env_fd tool_ip tool_nsenter
  csbx_tool pasta
  csbx_tool env
  # Everything that could be missing is looked up before anything starts: nothing is left held.
  csbx_host_routes
  if [[ -n $csbx_rules4$csbx_rules6 ]]; then
    csbx_ip_tool
    csbx_tool nsenter
  fi
  csbx_env_args_fd
  # This shell stays bwrap's parent and pasta's: all three go into the sandbox's cgroup.
  ((!csbx_cg_want)) || csbx_cgroup_enter
  csbx_open_pipe block
  csbx_open_pipe info
  # A background job in a script starts with SIGINT/SIGQUIT ignored and stdin on /dev/null: env
  # restores the default signals, and <&0 keeps the caller's stdin (the agent's terminal).
  (exec -c "$tool_env" --default-signal=INT,QUIT "$tool_bwrap" --args "$csbx_env_fd" "${bw[@]}" --unshare-net \
    --info-fd 3 --block-fd 4 -- "$@") 3>&"$info" 4<&"$block" <&0 {info}>&- {block}>&- {csbx_lock_fd}>&- &
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
  if ! csbx_wait_setup "$pid"; then
    # Not left blocked behind us: it holds the caller's stdout, and EOF on its block fd would start
    # the payload without the network set up.
    kill -KILL "$pid" "$bw_pid" 2>/dev/null || true
    csbx_die 1 "the sandbox did not finish its setup; run 'claude-sandbox doctor'"
  fi
  # pasta stays in the foreground as our child, tied to this shell by a death signal: an attached pasta
  # does not quit when the namespace goes away, and a daemonized one would outlive a killed launcher.
  # It writes its pid file once the namespace is configured: that is the readiness signal. It joins the
  # network namespace as the host's root, not through the init's user namespace: with nested user
  # namespaces disabled that is a second one, nested in the one that owns the network namespace.
  local pidfile=$state/pasta.$BASHPID.pid pasta_pid tool_setpriv deadline=$((EPOCHSECONDS + 10))
  csbx_tool setpriv
  rm -f -- "$pidfile"
  csbx_pasta_argv
  "$tool_setpriv" --pdeathsig KILL -- "${csbx_pasta[@]}" "${csbx_pasta_opts[@]}" --foreground --runas 0 \
    --pid "$pidfile" --netns "/proc/$pid/ns/net" {csbx_lock_fd}>&- &
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
  # The host's own addresses out of reach (see csbx_host_routes), while the payload is still held.
  if [[ -n $csbx_rules4$csbx_rules6 ]]; then
    if ! "$tool_nsenter" "--net=/proc/$pid/ns/net" -- "$tool_ip" -4 -batch - <<<"$csbx_rules4" >/dev/null ||
      ! "$tool_nsenter" "--net=/proc/$pid/ns/net" -- "$tool_ip" -6 -batch - <<<"$csbx_rules6" >/dev/null; then
      kill -KILL "$pasta_pid" "$pid" 2>/dev/null || true
      wait "$bw_pid" || true
      csbx_die 1 "could not keep the host's own addresses out of the sandbox's network; run with --no-network"
    fi
  fi
  printf x >&"$block"
  exec {block}>&-
  # Registered once the payload runs (see csbx_wait_payload), and only then is the launch lock let go.
  if ((!opt_new)); then
    local ready=0
    csbx_wait_payload "$pid" || ready=$?
    if ((ready == 0)); then
      csbx_write_registry "$pid"
    elif ((ready == 2)); then
      csbx_warn "the sandbox's payload did not start within 10 s; it will not be joinable"
    fi
  fi
  exec {info}>&- {csbx_lock_fd}>&-
  local status=0
  wait "$bw_pid" || status=$?
  kill "$pasta_pid" 2>/dev/null || true
  exit "$status"
}
