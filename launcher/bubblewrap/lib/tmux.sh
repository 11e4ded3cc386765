# shellcheck shell=bash
# --tmux: the agent in a tmux session inside the sandbox, and attaching to it from a tmux client that
# runs inside too. Sourced only when --tmux is given.

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
  # That launch and its registry writer hold the launch lock now; this process, which stays to attach,
  # lets its copy go.
  exec {csbx_lock_fd}>&- {csbx_lock_fd}</dev/null
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
# terminal; otherwise says how to attach later. The client gets a pty of the join's own, relayed from
# this terminal (csbx_join), which passes on resizes as well.
csbx_tmux_attach() {
  if [[ -t 0 && -t 1 ]]; then
    opt_enter=1
    entry=(tmux -S "$state/tmux.d/sock" attach-session -t "=$1")
    csbx_join
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
