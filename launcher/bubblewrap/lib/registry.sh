# shellcheck shell=bash
# One live sandbox per project. The registry ($state/ns) is written by the launcher on the host, in a
# part of the state dir the sandbox cannot see, and names the sandbox's init by host pid plus the inodes
# of its mnt, user, pid and net namespaces: a pid that was reused by another process never matches.
#
#   pid=<host pid of the sandbox's pid-1 (bwrap's init)>
#   mnt=mnt:[…]  user=user:[…]  pidns=pid:[…]  net=net:[…]
#   network=0|1  started=<epoch seconds>  pasta=<pid of an attached pasta, root only>
#   userns=0|1 (started with --allow-userns)  cgroup=<the sandbox's own cgroup dir, or empty>
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
  reg_userns=0 reg_cgroup=''
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
      userns) reg_userns=$value ;;
      cgroup) reg_cgroup=$value ;;
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
  # Not before the payload runs: until then the entry would look dead to the launches waiting on the
  # launch lock, which this writer lets go when it exits (see csbx_wait_payload). A payload that has
  # already ended leaves nothing to join.
  local ready=0
  csbx_wait_payload "$pid" || ready=$?
  if ((ready == 2)); then
    printf "claude-sandbox: warning: the sandbox's payload did not start within 10 s; it will not be joinable\n" >&2
  fi
  ((ready == 0)) || return 0
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
  printf 'pid=%s\nmnt=%s\nuser=%s\npidns=%s\nnet=%s\nnetwork=%s\nstarted=%s\npasta=%s\nstart=%s\nuserns=%s\ncgroup=%s\n' \
    "$1" "${links[@]}" "$opt_network" "$EPOCHSECONDS" "${csbx_pasta_pid-}" "$csbx_start" "$opt_allow_userns" \
    "${csbx_cg-}" >"$state/ns"
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
  # Whatever is left in the sandbox's cgroup (host helpers, joined shells) goes with it.
  [[ -n $reg_cgroup ]] && csbx_cgroup_kill "$reg_cgroup"
  rm -f -- "$state/ns" "$state/ns.env"
  printf 'Stopped sandbox for %s (pid %s)\n' "$project" "$reg_pid"
}

# Runs the entry inside the live sandbox: every namespace of it (network too), its root, and the
# sandbox's own environment, as restricted as the sandbox's own processes. Does not return.
#
# nsenter joins the mount, pid, net, uts, ipc and cgroup namespaces and the root from outside (where it
# has the capabilities setns needs, over namespaces its user made); then the host's bwrap, seen inside
# under /usr (or /nix/store), joins the sandbox's user namespace (--userns, a setns: nested user
# namespaces may be disabled there), drops every capability that grants and applies the sandbox's
# seccomp filter.
#
# The caller's terminal never reaches the sandbox: when stdin, stdout or stderr is a terminal,
# util-linux `script` on the host relays between it and a pty of the join's own (raw mode, window size
# changes, exit status), and the join runs in that pty's session. A process the joined shell leaves
# behind (a ~/.bashrc the agent planted can start one) could otherwise keep the terminal and read what
# the user types after the join returned; now it holds a pty that is gone. Without a terminal the join
# gets a new session (no TIOCSTI into the caller's).
#
# And it ends with the join: the join runs in a cgroup of its own below the sandbox's, which this shell
# kills (cgroup.kill) once the joined process has exited, so nothing it started survives it, however
# detached (setsid, double fork, nohup). Where the sandbox has no cgroup (a user without cgroup
# delegation, see cgroup.sh) what a joined shell leaves behind lives on inside the sandbox until --stop.
# A pid namespace of the join's own would end them as well, but the sandbox's /proc would then show
# other pids than the joined shell's kill(), pgrep and $$ use, and a /proc of its own cannot be mounted
# in any mount namespace a join can make (the sandbox's /proc/sys cover is locked there).
csbx_join() {
  if ((!opt_network)) && ((reg_network)); then
    csbx_die 1 "the live sandbox for $project has network, but --no-network was asked; stop it first (claude-sandbox --stop ${project@Q}) or use --new"
  fi
  if ((opt_allow_userns)) && ((!reg_userns)); then
    csbx_die 1 "the live sandbox for $project was started without --allow-userns, and a joined shell cannot get what the sandbox has not; stop it first (claude-sandbox --stop ${project@Q}) or use --new"
  fi
  # Nothing this launcher holds open goes along: with --tmux it has just set up a sandbox, and bwrap's
  # arguments hold descriptors of host paths (a directory's lets a process walk up out of it), which the
  # joined process would inherit.
  csbx_close_inherited
  # csbx_lock_fd must keep naming an fd of its own (every exec closes it): /dev/null now.
  exec {csbx_lock_fd}</dev/null
  local env=() tool_nsenter tool_bwrap
  [[ -f $state/ns.env ]] && mapfile -d '' -t env <"$state/ns.env"
  sbx_env=("${env[@]}" "TERM=${TERM:-xterm-256color}")
  csbx_tool nsenter
  csbx_tool bwrap
  ((opt_enter)) || csbx_note "joining the live sandbox for $project (pid $reg_pid)"
  # When the launcher (non-root without network: unshare) or pasta made the outermost user namespace,
  # the sandbox's namespaces belong to user namespaces nested inside it, and setns() into them needs the
  # capabilities that only that outer one grants: enter it first (bwrap's monitor, the init's parent,
  # lives in it).
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
  # The sandbox's user namespace, held open from here on and checked against the registry, so that a pid
  # reused since csbx_find_live cannot hand bwrap another one.
  local ufd link
  exec {ufd}<"/proc/$reg_pid/ns/user" || csbx_die 1 "the live sandbox for $project has just ended"
  link=$(readlink "/proc/self/fd/$ufd") || link=''
  [[ $link == "$reg_user" ]] || csbx_die 1 "the live sandbox for $project has just ended"
  local drop=("$tool_bwrap" --userns "$ufd" --uid "$EUID" --gid "${GROUPS[0]:-$EUID}" --dev-bind / /
    --cap-drop ALL --die-with-parent)
  local relay=0
  [[ -t 0 || -t 1 || -t 2 ]] && relay=1
  ((relay)) || drop+=(--new-session)
  csbx_seccomp_file
  local sfd=''
  if [[ -n $csbx_seccomp_file ]]; then
    exec {sfd}<"$csbx_seccomp_file"
    drop+=(--seccomp "$sfd")
  fi
  # The environment travels on a pipe that the shell inside reads, not on a command line, and nothing
  # of the host's comes along (see environment.sh). The join is started in the background (below), and
  # a background job starts with SIGINT and SIGQUIT ignored: env gives them back.
  local efd
  csbx_data_fd efd "${sbx_env[@]}"
  # shellcheck disable=SC2016 # the inner script's $1.. are its own arguments
  local argv=("${outer[@]}" "$tool_nsenter" --target "$reg_pid" --mount --pid --net --uts --ipc --cgroup --root --
    "${drop[@]}" -- bash -c 'fd=$2 ufd=$3
while IFS= read -r -d "" kv <&"$fd"; do export -- "$kv"; done
exec {fd}<&- {ufd}<&-
cd -- "$1" || exit 1
shift 3
exec env --default-signal=INT,QUIT -- "$@"' claude-sandbox "$project" "$efd" "$ufd" "${entry[@]}")
  local jcg='' procs='' e
  if csbx_cgroup_valid "$reg_cgroup" && mkdir -- "$reg_cgroup/join.$BASHPID" 2>/dev/null; then
    jcg=$reg_cgroup/join.$BASHPID
    procs=$jcg/cgroup.procs
  fi
  # Where the sandbox's limits are held in cgroup v1 (cgroup.sh), the join enters its cgroups there too,
  # or a shell that joined could fork and allocate past them. One cgroup.procs path a line.
  csbx_cgroup_v1_parents "$reg_pid"
  for e in "${csbx_cg_v1[@]}"; do
    [[ ${e##*/} =~ ^claude-sandbox\.[0-9]+$ ]] && procs+=${procs:+$'\n'}${e#*=}/cgroup.procs
  done
  local pid
  if ((relay)); then
    # The relay's command is a constant: its argv (the cgroups to enter first, then the command) comes on
    # fd 3, NUL-separated, and runs in script's child, the session leader on the new pty; script itself
    # stays in the caller's cgroup, out of the sandbox's reach. <&0: a background job's stdin would be
    # /dev/null.
    local tool_script tool_env afd echo=()
    csbx_tool script
    csbx_tool env
    [[ -t 0 ]] || echo=(--echo never)
    csbx_data_fd afd "$procs" "${argv[@]}"
    (exec -c "$tool_env" "SHELL=$BASH" "$tool_script" --quiet --return "${echo[@]}" \
      --command "$csbx_join_relay" /dev/null) 3<&"$afd" <&0 {afd}<&- {csbx_lock_fd}>&- &
    pid=$!
    exec {afd}<&-
  else
    (
      while IFS= read -r p; do
        [[ -z $p ]] || { printf '0\n' >"$p"; } 2>/dev/null || true
      done <<<"$procs"
      exec -c "${argv[@]}"
    ) <&0 {csbx_lock_fd}>&- &
    pid=$!
  fi
  exec {csbx_lock_fd}>&- {ufd}<&- {efd}<&-
  [[ -z $sfd ]] || exec {sfd}<&-
  # This shell stays the join's parent: to end what it leaves behind, and because script leaves SIGHUP
  # blocked and unread, to turn the hangup of a closed terminal (which the user's shell passes on to its
  # jobs) into the SIGTERM that script ends the join on.
  local status=0
  # shellcheck disable=SC2064 # the pid is fixed now
  trap "kill -TERM $pid 2>/dev/null" HUP TERM
  while :; do
    status=0
    wait "$pid" || status=$?
    # wait returns early (status > 128) when a trap ran; the join may still be running.
    kill -0 "$pid" 2>/dev/null || break
  done
  [[ -z $jcg ]] || csbx_cgroup_kill "$jcg"
  exit "$status"
}

# shellcheck disable=SC2016 # run by script's child; its variables are its own
csbx_join_relay='mapfile -d "" -t a <&3 || exit 1
exec 3<&-
while IFS= read -r p; do [[ -z $p ]] || { printf "0\n" >"$p"; } 2>/dev/null; done <<<"${a[0]}"
exec -c "${a[@]:1}"'

# The sandbox's cgroup (--stop kills it, a join makes one below it), and the launch's when it founds one.
# shellcheck source=launcher/bubblewrap/lib/cgroup.sh
source "$csbx_dir/lib/cgroup.sh"
