# shellcheck shell=bash
# One live sandbox per project. The registry ($state/ns) is written by the launcher on the host, in a
# part of the state dir the sandbox cannot see, and names the sandbox's init by host pid plus the inodes
# of its mnt, user, pid and net namespaces: a pid that was reused by another process never matches.
#
#   pid=<host pid of the sandbox's pid-1 (bwrap's init)>
#   mnt=mnt:[…]  user=user:[…]  pidns=pid:[…]  net=net:[…]
#   network=0|1  started=<epoch seconds>  pasta=<pid of an attached pasta, root only>
#   start=<the init's start time in clock ticks, field 22 of /proc/PID/stat>: a cheap first check
#   (no fork) that rules out a dead or reused pid before the namespace links are compared
# $state/ns.env holds the sandbox's environment (NUL-separated) so joining shells get the same one.

# Sets csbx_start to PID's start time (field 22 of /proc/PID/stat), or '' (no subshell: this runs on
# every launch). The command name (field 2) may hold spaces and parentheses, so fields are counted
# after its last ')'.
csbx_start_time() {
  local stat='' fields=()
  csbx_start=''
  IFS= read -r stat 2>/dev/null <"/proc/$1/stat" || return 0
  read -r -a fields <<<"${stat##*) }"
  csbx_start=${fields[19]-}
}

# Prints the four namespace links of PID, one per line (one readlink for all four).
csbx_ns_links() {
  readlink -- "/proc/$1/ns/mnt" "/proc/$1/ns/user" "/proc/$1/ns/pid" "/proc/$1/ns/net" 2>/dev/null
}

# Sets reg_* from the registry and succeeds when it names a running sandbox.
csbx_find_live() {
  [[ -f $state/ns ]] || return 1
  reg_pid='' reg_pasta='' reg_start='' reg_mnt='' reg_user='' reg_pidns='' reg_net='' reg_network=1 reg_started=''
  local key value
  while IFS='=' read -r key value; do
    case $key in
      pid) reg_pid=$value ;;
      mnt) reg_mnt=$value ;;
      user) reg_user=$value ;;
      pidns) reg_pidns=$value ;;
      net) reg_net=$value ;;
      network) reg_network=$value ;;
      started) reg_started=$value ;;
      pasta) reg_pasta=$value ;;
      start) reg_start=$value ;;
    esac
  done <"$state/ns"
  csbx_start=''
  [[ $reg_pid =~ ^[1-9][0-9]*$ ]] && csbx_start_time "$reg_pid"
  # An init without children is a sandbox whose payload has just exited: it is going away, not joinable.
  local kids=''
  [[ -n $reg_start && $csbx_start == "$reg_start" ]] &&
    read -r kids 2>/dev/null <"/proc/$reg_pid/task/$reg_pid/children"
  if [[ -n $kids ]]; then
    local links=()
    mapfile -t links < <(csbx_ns_links "$reg_pid")
    if [[ ${#links[@]} == 4 && -n $reg_mnt && ${links[0]} == "$reg_mnt" && ${links[1]} == "$reg_user" &&
      ${links[2]} == "$reg_pidns" && ${links[3]} == "$reg_net" ]]; then
      return 0
    fi
  fi
  # Dead, or the pid now belongs to something else: not live. The file is left for the next
  # registration to overwrite (a fork to remove it would cost every launch after a normal exit).
  return 1
}

# Takes the project's launch lock on csbx_lock_fd (flock on $state/launch.lock), waiting while another
# launcher founds the sandbox. The lock belongs to the open file, so it is held until every copy of the
# fd is closed: this launcher closes its copy when it execs (every exec below carries
# {csbx_lock_fd}>&-), and the registry writer, which inherits one, closes it once the sandbox is
# registered. Long-lived helpers (xdg-dbus-proxy) are started without it.
csbx_lock_launch() {
  local tool_flock
  csbx_tool flock
  exec {csbx_lock_fd}<&- {csbx_lock_fd}>>"$state/launch.lock"
  if ! "$tool_flock" -x -w 30 "$csbx_lock_fd"; then
    csbx_die 1 "another launch of $project has held $state/launch.lock for 30 s; if no claude-sandbox for it is running, remove that file"
  fi
}

# Runs beside bwrap (a process substitution on its --info-fd): learns the sandbox's init from bwrap's
# child-pid, waits until bwrap has finished setting it up, and records it. It does not hold bwrap
# back, so registration lands a few milliseconds after the payload starts rather than adding to every
# launch. (--block-fd would close that window, at the cost of the whole setup time on the hot path.)
# $1: how the sandbox's init relates to $2 (the launcher's pid, which has exec'd bwrap or pasta):
#   direct  bwrap's child-pid is a host pid
#   pasta   pasta ($2) made its own pid namespace; the init is $2's grandchild
csbx_registry_writer() {
  local line pid=''
  while IFS= read -r line; do
    if [[ $line =~ \"child-pid\":\ *([0-9]+) ]]; then
      pid=${BASH_REMATCH[1]}
      break
    fi
  done
  [[ -n $pid ]] || return 0
  if [[ $1 == pasta ]]; then
    # $2's children are bwrap's monitor and helpers forked before the exec (this writer, xauth,
    # xdg-dbus-proxy); the monitor is the one named bwrap, and its only child is the sandbox's init.
    local kids=() k comm monitor=''
    read -r -a kids 2>/dev/null <"/proc/$2/task/$2/children" || true
    for k in "${kids[@]}"; do
      comm=''
      read -r comm 2>/dev/null <"/proc/$k/comm" || true
      [[ $comm == bwrap ]] && monitor=$k
    done
    pid=''
    if [[ -n $monitor ]]; then
      read -r -a kids 2>/dev/null <"/proc/$monitor/task/$monitor/children" || true
      ((${#kids[@]} == 1)) && pid=${kids[0]}
    fi
  fi
  # shellcheck source=launcher/bubblewrap/lib/attach.sh
  source "$csbx_dir/lib/attach.sh"
  if [[ -z $pid ]] || ! csbx_wait_setup "$pid"; then
    # A pid that is gone means bwrap failed its setup and has said why; only a live one is news.
    [[ -n $pid && -e /proc/$pid ]] &&
      printf 'claude-sandbox: warning: could not find the sandbox init; it will not be joinable\n' >&2
    return 0
  fi
  csbx_write_registry "$pid"
}

# csbx_write_registry HOST-PID
csbx_write_registry() {
  local links=()
  mapfile -t links < <(csbx_ns_links "$1")
  ((${#links[@]} == 4)) || return 0
  # ns.env first: it is read only once ns names a live sandbox. Each file is one small write; readers
  # check every field against the live process, so a torn read can only look "not live".
  printf '%s\0' "${sbx_env[@]}" >"$state/ns.env"
  csbx_start_time "$1"
  printf 'pid=%s\nmnt=%s\nuser=%s\npidns=%s\nnet=%s\nnetwork=%s\nstarted=%s\npasta=%s\nstart=%s\n' \
    "$1" "${links[@]}" "$opt_network" "$EPOCHSECONDS" "${csbx_pasta_pid-}" "$csbx_start" >"$state/ns"
}

csbx_stop() {
  if ! csbx_find_live; then
    printf 'No live sandbox for %s\n' "$project"
    return 0
  fi
  # SIGKILL to a pid namespace's init ends every process in it (agent, Chromium, tmux server): nothing
  # is orphaned, unlike the seed's SIGTERM to the payload alone.
  kill -KILL "$reg_pid" 2>/dev/null || true
  local deadline=$((EPOCHSECONDS + 10))
  while [[ -e /proc/$reg_pid ]] && ((EPOCHSECONDS < deadline)); do
    # The init can linger as a zombie until its parent (bwrap's monitor) reaps it; a zombie's
    # namespaces are already gone.
    [[ -n $(csbx_ns_links "$reg_pid") ]] || break
    sleep 0.02
  done
  # Root sandboxes with network have a pasta attached from outside; it does not notice the namespace
  # is gone. Only a pasta whose command line names the sandbox's pid is ended.
  if [[ $reg_pasta =~ ^[1-9][0-9]*$ && -r /proc/$reg_pasta/cmdline ]]; then
    local cmdline
    cmdline=$(tr '\0' ' ' <"/proc/$reg_pasta/cmdline" 2>/dev/null) || cmdline=''
    [[ $cmdline == *"/proc/$reg_pid/ns/net"* ]] && kill "$reg_pasta" 2>/dev/null
  fi
  rm -f -- "$state/ns" "$state/ns.env"
  printf 'Stopped sandbox for %s (pid %s)\n' "$project" "$reg_pid"
}

# Runs the entry inside the live sandbox: every namespace of it (network too, unlike the seed), its
# root, capabilities dropped (setns into a user namespace grants all of them there, which would let a
# joined shell unmount the read-only overlays), a new session, and the sandbox's own environment.
csbx_join() {
  if ((!opt_network)) && ((reg_network)); then
    csbx_die 1 "the live sandbox for $project has network, but --no-network was asked; stop it first (claude-sandbox --stop ${project@Q}) or use --new"
  fi
  local env=() tool_nsenter
  [[ -f $state/ns.env ]] && mapfile -d '' -t env <"$state/ns.env"
  sbx_env=("${env[@]}" "TERM=${TERM:-xterm-256color}")
  csbx_tool nsenter
  ((opt_enter)) || csbx_note "joining the live sandbox for $project (pid $reg_pid)"
  # When pasta made the outermost user namespace (non-root with network), the sandbox's other
  # namespaces belong to user namespaces nested inside it, and setns() into them needs capabilities
  # that only that outer user namespace grants: enter it first (bwrap's monitor, the init's parent,
  # lives in it), then everything else.
  local outer=() key value ppid=''
  while IFS=$':\t ' read -r key value; do
    if [[ $key == PPid ]]; then
      ppid=$value
      break
    fi
  done <"/proc/$reg_pid/status"
  if [[ $ppid =~ ^[1-9][0-9]*$ && ! /proc/$ppid/ns/user -ef /proc/self/ns/user ]]; then
    outer=("$tool_nsenter" "--user=/proc/$ppid/ns/user" --preserve-credentials --)
  fi
  # Dropping privileges inside: setns into a user namespace grants every capability there, and a joined
  # process must end up exactly as restricted as the sandbox's own: no capabilities, a new session (no
  # TIOCSTI into the caller's terminal) and the same seccomp filter. Only bwrap can apply that filter
  # (setpriv learned --seccomp-filter only in util-linux 2.40): the host's bwrap, visible inside under
  # /usr, run in a mount namespace identical to the sandbox's. For a user it nests a user namespace of the
  # same uid, which changes nothing the joined process can reach.
  local drop=(bwrap --dev-bind / / --cap-drop ALL --new-session)
  csbx_seccomp_file
  if [[ -n $csbx_seccomp_file ]]; then
    local sfd
    exec {sfd}<"$csbx_seccomp_file"
    drop+=(--seccomp "$sfd")
  fi
  drop+=(--)
  # The environment travels on a pipe that the shell inside reads, not on a command line, and nothing
  # of the host's comes along (see environment.sh). The tools after nsenter are looked up inside the
  # sandbox's root, on the default PATH until the shell sets the sandbox's.
  local efd
  csbx_data_fd efd "${sbx_env[@]}"
  # shellcheck disable=SC2016 # the inner script's $1/$@ are its own arguments
  exec -c {csbx_lock_fd}>&- "${outer[@]}" "$tool_nsenter" --target "$reg_pid" --user --mount --pid --net --uts --ipc --root \
    --preserve-credentials -- "${drop[@]}" \
    bash -c 'fd=$2
while IFS= read -r -d "" kv <&"$fd"; do export -- "$kv"; done
exec {fd}<&-
cd -- "$1" || exit 1
shift 2
exec "$@"' claude-sandbox "$project" "$efd" "${entry[@]}"
}
