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
  # No user namespaces inside unless asked for: in one of its own a process has every capability over
  # the namespaces it then makes, enough to mount cgroup2 and kill the processes of a cgroup it sees, and
  # the whole namespaced-capability surface of the kernel opens to it. bwrap sets the sandbox's
  # user.max_user_namespaces to what it has used, one level out of the sandbox's reach.
  ((opt_allow_userns)) || bw+=(--disable-userns)
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

# Through pasta the sandbox reaches the host's own addresses other than loopback like any outside
# address, and through them every service the host runs on 0.0.0.0 or [::]: a dev server, a database,
# whatever listens on docker0's 172.17.0.1 or a VPN's address, or on an interface's IPv6 link-local
# address. So the sandbox's network namespace gets an `unreachable` rule for each of them before anything
# runs in it. Rules rather than routes: a route does not stop a link-local destination, which is looked up
# on its interface only, while rules come first for every destination (the namespace's own addresses
# still win, in the `local` table before them). Sets csbx_rules4 and csbx_rules6 to `ip -batch` lines
# ('' when there are none). Read from /proc without a fork: IPv4 from the LOCAL entries of
# /proc/net/fib_trie (an address, or a prefix routed as local), IPv6 from /proc/net/if_inet6. Addresses
# the host gains later (a VPN coming up) are covered from the next launch on.
csbx_host_routes() {
  csbx_rules4='' csbx_rules6=''
  local line last='' a hex dev rule='unreachable priority 100'
  local -A seen=()
  while IFS= read -r line; do
    line=${line#"${line%%[![:space:]]*}"}
    if [[ $line == '|-- '* ]]; then
      last=${line#'|-- '}
    elif [[ $line =~ ^/([0-9]+)\ host\ LOCAL$ && -n $last && $last != 127.* ]]; then
      a=$last/${BASH_REMATCH[1]}
      [[ -n ${seen[$a]-} ]] && continue
      seen[$a]=1
      csbx_rules4+="rule add to $a $rule"$'\n'
    fi
  done </proc/net/fib_trie
  while read -r hex _ _ _ _ dev; do
    [[ $dev != lo && ${#hex} == 32 ]] || continue
    a=${hex:0:4}:${hex:4:4}:${hex:8:4}:${hex:12:4}:${hex:16:4}:${hex:20:4}:${hex:24:4}:${hex:28:4}
    [[ -n ${seen[$a]-} ]] && continue
    seen[$a]=1
    csbx_rules6+="rule add to $a/128 $rule"$'\n'
  done </proc/net/if_inet6
  return 0
}

csbx_ip_tool() {
  hash ip 2>/dev/null ||
    csbx_die 1 "ip (iproute2) is not installed, and the sandbox needs it to keep the host's own addresses out of reach; install it (Debian: apt-get install iproute2) or run with --no-network"
  tool_ip=${BASH_CMDS[ip]}
}

csbx_launch() {
  csbx_check_userns
  # A cgroup of its own for the sandbox (cgroup.sh, read with registry.sh), which holds its limits
  # (limits.sh), except for a --new one without --allow-userns or a limit flag: it can neither reach
  # cgroupfs nor be joined or stopped, and the move would cost every manager launch its RCU grace period
  # (the manager puts each sandbox into a cgroup with its limits itself, while Xvfb starts). Such a
  # launch reads none of cgroup.sh; its tmpfs are sized all the same.
  csbx_cg='' csbx_cg_want=$((!opt_new || opt_allow_userns || opt_limits))
  if ((opt_new && (opt_allow_userns || opt_limits))); then
    # shellcheck source=launcher/bubblewrap/lib/cgroup.sh
    source "$csbx_dir/lib/cgroup.sh"
  fi
  # Its mkdir runs while the arguments are built. With --tmux a background launch execs bwrap, and the
  # cgroup is named after (and waited for by) that process.
  ((opt_tmux || !csbx_cg_want)) || csbx_cgroup_start
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

# Starts the sandbox running "$@" and does not return. Unless --new, a writer beside bwrap registers it.
csbx_exec_sandbox() {
  local register=$((!opt_new)) info tool_bwrap tool_pasta tool_unshare
  csbx_tool bwrap
  if ((opt_network)) && ((uid == 0)); then
    # shellcheck source=launcher/bubblewrap/lib/attach.sh
    source "$csbx_dir/lib/attach.sh"
    csbx_exec_attached "$@"
  fi
  ((!csbx_cg_want)) || csbx_cgroup_enter
  local pre=() how=direct
  if ((opt_network)); then
    csbx_tool pasta
    csbx_pasta_argv
    pre=("${csbx_pasta[@]}" "${csbx_pasta_opts[@]}" --)
    how=pasta
    csbx_host_routes
    if [[ -n $csbx_rules4$csbx_rules6 ]]; then
      # pasta runs its command with every capability in the namespaces it made: a shell there adds the
      # rules, then becomes bwrap. Refused rules stop the launch rather than leave the host open.
      # --norc: bash reads ~/.bashrc even for -c when its stdin is a socket (Debian's build).
      local tool_ip fd4 fd6
      csbx_ip_tool
      exec {fd4}<<<"$csbx_rules4" {fd6}<<<"$csbx_rules6"
      # shellcheck disable=SC2016 # the inner script's $1.. are its own arguments
      pre+=("$BASH" --norc --noprofile -c 'fd4=$2 fd6=$3
if ! "$1" -4 -batch - <&"$fd4" >/dev/null || ! "$1" -6 -batch - <&"$fd6" >/dev/null; then
  echo "claude-sandbox: could not keep the host'"'"'s own addresses out of the sandbox'"'"'s network; run with --no-network" >&2
  exit 1
fi
exec {fd4}<&- {fd6}<&-
shift 3
exec "$@"' claude-sandbox-net "$tool_ip" "$fd4" "$fd6")
    fi
    if ((opt_die_with_parent)); then
      # bwrap's parent is pasta here, which would outlive our caller: tie pasta to the caller too
      # (the death signal survives the exec into pasta).
      local tool_setpriv
      csbx_tool setpriv
      pre=("$tool_setpriv" --pdeathsig KILL -- "${pre[@]}")
    fi
  elif ((uid != 0)) && ((register)); then
    # For a non-root user bwrap nests a second user namespace (to map the uid back after mounting
    # devpts); the sandbox's mount, pid and ipc namespaces belong to the first one, which no process
    # keeps. Starting bwrap inside a user namespace of our own gives `--enter` an ancestor of both to
    # join first (the same shape pasta gives the network case). unshare execs bwrap without forking.
    # A --new sandbox is never joined, so it goes without.
    csbx_tool unshare
    pre=("$tool_unshare" --user --map-root-user --)
  fi
  local csbx_env_fd
  csbx_env_args_fd
  if ((register)); then
    # The writer needs the pid that will become bwrap or pasta: this shell's own ($$ is the top-level
    # launcher's, not this one's in the --tmux subshell).
    local me=$BASHPID
    # Backgrounded inside the substitution so the writer is not a child of pasta (pasta, seeing a
    # child it did not start, could hang after the sandbox ended); stdin stays the info pipe.
    exec {info}> >(csbx_registry_writer "$how" "$me" <&0 &)
    exec -c "${pre[@]}" "$tool_bwrap" --args "$csbx_env_fd" "${bw[@]}" --info-fd 3 -- "$@" 3>&"$info" {info}>&- \
      {csbx_lock_fd}>&-
  fi
  exec -c "${pre[@]}" "$tool_bwrap" --args "$csbx_env_fd" "${bw[@]}" -- "$@" {csbx_lock_fd}>&-
}
