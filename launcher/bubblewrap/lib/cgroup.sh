# shellcheck shell=bash
# A cgroup of its own for each sandbox. bwrap --unshare-cgroup roots the sandbox's cgroup namespace at
# the cgroup its caller is in when it starts; left there, that is the caller's (a terminal's scope, the
# manager's service, and for root without systemd the root cgroup, which holds every process). A sandbox
# that can mount cgroup2 (only with --allow-userns: in a user namespace of its own) can write
# cgroup.kill or cgroup.freeze of every cgroup it sees that its uid may write, and kill or freeze the
# host processes in them. So the launcher creates <its cgroup>/claude-sandbox.<pid> and moves itself in
# before bwrap starts: the sandbox sees that cgroup and nothing above it, and --stop can kill all of it
# at once (cgroup.kill), host helpers such as pasta included. Each shell that joins gets a cgroup of
# its own below it (join.<pid>), killed when the join ends (registry.sh).
#
# Only where the launcher may write its own cgroup: root always (unless cgroupfs is read-only, as in
# many containers); a user where the cgroup is delegated to them (systemd's user manager delegates
# user@UID.service, where desktop terminals run). A user's cgroup that is not delegated (an ssh login's
# session scope, or no systemd) is not writable from inside either, so the sandbox stays in it (doctor
# says so; `systemd-run --user --scope claude-sandbox …` gives it a delegated one). Under systemd, root's
# sandboxes become sub-cgroups of the caller's unit, which systemd removes with the unit; a transient
# unit of their own (systemd-run --scope) would add a D-Bus round trip, tens of ms, to every launch.
#
# Creating the cgroup and moving the launcher into it run in a background job while the launcher builds
# bwrap's arguments, and the launcher waits for it just before bwrap starts: mkdir is a fork, and a move
# waits for an RCU grace period (up to ~10 ms here) unless cgroup2 is mounted with favordynmods. That is
# too much for the manager's launches (--new), which skip it unless --allow-userns: without user
# namespaces a sandbox cannot reach cgroupfs at all, and an unregistered one is never joined or stopped.
# Empty cgroups of finished sandboxes are removed by a later launch's job: rmdir fails on a populated
# cgroup, and one whose launcher still runs (created, not yet entered) is skipped, so a live sandbox's
# cgroup is never touched.

# Sets csbx_cg_parent to the directory of this process's cgroup in the cgroup2 hierarchy when a sandbox
# cgroup can be made below it, else ''. No fork: /proc/self/cgroup names the cgroup ("0::/path",
# relative to our cgroup namespace), /proc/self/mountinfo where cgroup2 is mounted (and which part of
# the hierarchy that mount shows: its root field).
csbx_cgroup_parent() {
  csbx_cg_parent=''
  local data='' re path line root mnt rest lines=()
  IFS= read -r -d '' data 2>/dev/null </proc/self/cgroup || true
  re=$'(^|\n)0::(/[^\n]*)'
  [[ $data =~ $re ]] || return 0
  path=${BASH_REMATCH[2]}
  # Outside our cgroup namespace's root ("/../x"), or a path mountinfo would have escaped.
  [[ $path != *'/..'* && $path != *\\* ]] || return 0
  mapfile -t lines 2>/dev/null </proc/self/mountinfo || return 0
  for line in "${lines[@]}"; do
    [[ $line == *' - cgroup2 '* ]] || continue
    # id parent major:minor root mount-point …
    read -r _ _ _ root mnt rest <<<"$line"
    [[ $root != *\\* && $mnt != *\\* ]] || continue
    if [[ $root == / ]]; then
      root=''
    elif [[ $path != "$root" && $path != "$root"/* ]]; then
      continue
    fi
    mnt=$mnt${path#"$root"}
    mnt=${mnt%/}
    [[ -d $mnt ]] || continue
    # A read-only mount, or a cgroup not delegated to this user: nothing to make here.
    [[ -w $mnt && -w $mnt/cgroup.procs ]] || return 0
    csbx_cg_parent=$mnt
    return 0
  done
  return 0
}

# csbx_cgroup_v1_parents PID: sets csbx_cg_v1 to "controller=dir" entries, one per cgroup v1 hierarchy
# of memory, pids and cpu in which process PID's cgroup (PID self: this one's) is writable, as for root,
# so a sandbox cgroup can be made below it. Hosts that still mount these controllers as v1 (a hybrid
# layout, whose cgroup2 then has none of them) hold the limits only there. For a sandbox's process the
# dirs are the sandbox's own cgroups, which a shell that joins it enters too (registry.sh). No fork: from
# /proc/PID/cgroup ("N:controllers:/path") and /proc/self/mountinfo.
csbx_cgroup_v1_parents() {
  csbx_cg_v1=()
  local cgroups=() mounts=() line c path root mnt opts rest ctrl
  mapfile -t cgroups 2>/dev/null <"/proc/$1/cgroup" || return 0
  mapfile -t mounts 2>/dev/null </proc/self/mountinfo || return 0
  for ctrl in memory pids cpu; do
    path=''
    for line in "${cgroups[@]}"; do
      IFS=: read -r _ c rest <<<"$line"
      [[ ,$c, == *,"$ctrl",* ]] && path=$rest && break
    done
    [[ $path == /* && $path != *'/..'* && $path != *\\* ]] || continue
    for line in "${mounts[@]}"; do
      [[ $line == *' - cgroup '* ]] || continue
      read -r _ _ _ root mnt rest <<<"$line"
      opts=${line##* }
      [[ ,$opts, == *,"$ctrl",* && $root != *\\* && $mnt != *\\* ]] || continue
      if [[ $root == / ]]; then
        root=''
      elif [[ $path != "$root" && $path != "$root"/* ]]; then
        continue
      fi
      mnt=$mnt${path#"$root"}
      mnt=${mnt%/}
      [[ -d $mnt && -w $mnt && -w $mnt/cgroup.procs ]] && csbx_cg_v1+=("$ctrl=$mnt")
      break
    done
  done
  return 0
}

# csbx_cgroup_limit DIR FILE VALUE: writes one limit; fails when the file is missing or refuses it.
csbx_cgroup_limit() {
  [[ -f $1/$2 ]] || return 1
  { printf '%s\n' "$3" >"$1/$2"; } 2>/dev/null
}

# The body of the cgroup job (a subshell of its own): makes the v2 cgroup CG and the v1 ones, writes
# the limits (limits.sh) into whichever hierarchy has each controller, v2 first, and moves process ME
# into all of them (only the launcher runs until the launcher has waited for this job). Its exit status
# has a bit for each thing not done: 1 the v2 cgroup, 2 memory, 4 swap, 8 pids, 16 cpu weight.
csbx_cgroup_job() {
  local me=$1 cg=$2 tool_mkdir=$3 status=0 mem=0 swap=0 pids=0 cpu=0 e ctrl dir
  if [[ -n $cg ]] && "$tool_mkdir" -p -- "$cg" 2>/dev/null &&
    { printf '%s\n' "$me" >"$cg/cgroup.procs"; } 2>/dev/null; then
    # The controllers reach the new cgroup only through its parent's subtree_control, which the kernel
    # refuses while the parent holds processes itself (any but the root cgroup): so this job moves in
    # too first, which empties a cgroup made for this launch alone (systemd-run --user --scope -p
    # Delegate=yes claude-sandbox …). A caller's shell left in it keeps the limits out of v2; then they
    # fall to v1, or are not applied. The launcher waits for this job before bwrap starts, so nothing
    # runs in the sandbox before its limits hold.
    { printf '%s\n' "$BASHPID" >"$cg/cgroup.procs"; } 2>/dev/null || true
    local c
    for c in memory pids cpu; do
      { printf '+%s\n' "$c" >"$csbx_cg_parent/cgroup.subtree_control"; } 2>/dev/null || true
    done
    if csbx_cgroup_limit "$cg" memory.max "$lim_memory"; then
      mem=1
      csbx_cgroup_limit "$cg" memory.swap.max "$lim_swap" && swap=1
    fi
    csbx_cgroup_limit "$cg" pids.max "$lim_pids" && pids=1
    csbx_cgroup_limit "$cg" cpu.weight "$lim_cpu_weight" && cpu=1
  else
    status=1
  fi
  for e in "${csbx_cg_v1[@]}"; do
    ctrl=${e%%=*} dir=${e#*=}/claude-sandbox.$me
    case $ctrl in
      memory) ((!mem)) || continue ;;
      pids) ((!pids)) || continue ;;
      cpu) ((!cpu)) || continue ;;
    esac
    "$tool_mkdir" -p -- "$dir" 2>/dev/null || continue
    case $ctrl in
      memory)
        csbx_cgroup_limit "$dir" memory.limit_in_bytes "$lim_memory" || continue
        mem=1
        # memsw is memory plus swap, and exists only with swap accounting (swapaccount=1).
        csbx_cgroup_limit "$dir" memory.memsw.limit_in_bytes $((lim_memory + lim_swap)) && swap=1
        ;;
      pids) csbx_cgroup_limit "$dir" pids.max "$lim_pids" && pids=1 ;;
      # cpu.shares: 1024 is v1's default, as weight 100 is v2's.
      cpu) csbx_cgroup_limit "$dir" cpu.shares $((lim_cpu_weight * 1024 / 100 > 2 ? lim_cpu_weight * 1024 / 100 : 2)) && cpu=1 ;;
    esac
    { printf '%s\n' "$me" >"$dir/cgroup.procs"; } 2>/dev/null || case $ctrl in
      memory) mem=0 swap=0 ;;
      pids) pids=0 ;;
      cpu) cpu=0 ;;
    esac
  done
  ((mem)) || ((status |= 2))
  ((swap)) || ((status |= 4))
  ((pids)) || ((status |= 8))
  ((cpu)) || ((status |= 16))
  return "$status"
}

# Starts the job that creates this launch's cgroups and moves this process into them (see above;
# launch.sh skips it for a --new sandbox without --allow-userns or a limit flag); the process that will
# exec bwrap calls it, since the cgroups are named after that pid. Sets csbx_cg ('' when there is none)
# and csbx_cg_job.
csbx_cgroup_start() {
  csbx_cg='' csbx_cg_job='' csbx_cg_owner=$BASHPID
  csbx_cgroup_parent
  csbx_cgroup_v1_parents self
  [[ -n $csbx_cg_parent ]] || ((${#csbx_cg_v1[@]})) || return 0
  local tool_mkdir tool_rmdir d p e stale=() me=$BASHPID
  hash mkdir rmdir 2>/dev/null || return 0
  tool_mkdir=${BASH_CMDS[mkdir]} tool_rmdir=${BASH_CMDS[rmdir]}
  [[ -z $csbx_cg_parent ]] || csbx_cg=$csbx_cg_parent/claude-sandbox.$me
  for e in ${csbx_cg_parent:+"=$csbx_cg_parent"} "${csbx_cg_v1[@]}"; do
    for d in "${e#*=}"/claude-sandbox.*; do
      p=${d##*.}
      [[ $p =~ ^[0-9]+$ && ! -e /proc/$p && $p != "$me" ]] && stale+=("$d"/join.* "$d")
    done
  done
  # -p: the same pid may have made it already (the root-with-network launch runs itself again under
  # setpriv, and exec keeps the pid), and then it is this launch's own.
  (
    status=0
    csbx_cgroup_job "$me" "$csbx_cg" "$tool_mkdir" || status=$?
    ((${#stale[@]} == 0)) || "$tool_rmdir" -- "${stale[@]}" 2>/dev/null &
    exit "$status"
  ) {csbx_lock_fd}>&- &
  csbx_cg_job=$!
}

# Waits until this process is in its cgroup (started with csbx_cgroup_start, here if not yet), so that
# bwrap, and the cgroup namespace it makes, start there. Without one the sandbox stays where the caller
# is. Limits that could not be applied are said on stderr when a flag asked for them (doctor says so
# for the defaults).
csbx_cgroup_enter() {
  [[ ${csbx_cg_owner-} == "$BASHPID" ]] || csbx_cgroup_start
  local status=0
  if [[ -n $csbx_cg_job ]]; then
    wait "$csbx_cg_job" || status=$?
  else
    status=31
  fi
  if ((status & 1)) && [[ -n $csbx_cg ]]; then
    ((opt_allow_userns)) &&
      csbx_warn "could not move the sandbox into a cgroup of its own ($csbx_cg); with --allow-userns it can kill or freeze the processes of $csbx_cg_parent"
    csbx_cg=''
  fi
  if ((opt_limits && status > 1)); then
    local missing=''
    ((status & 2)) && missing+=', memory'
    ((status & 4)) && missing+=', swap'
    ((status & 8)) && missing+=', processes'
    ((status & 16)) && missing+=', cpu weight'
    csbx_warn "could not apply the sandbox's limits on ${missing#, }: no cgroup with those controllers may be made here (not root, and no delegated cgroup; see claude-sandbox doctor); the sandbox runs without them"
  fi
  return 0
}

# csbx_cgroup_valid PATH: whether PATH (from the registry) names a sandbox cgroup in a cgroup2
# hierarchy, so that --stop writes cgroup.kill of nothing else.
csbx_cgroup_valid() {
  [[ $1 == /* && $1 != *'/..'* && ${1##*/} =~ ^(claude-sandbox|join)\.[0-9]+$ && -f $1/cgroup.kill ]]
}

# Kills every process left in the sandbox cgroup PATH (cgroup.kill, Linux 5.14+) and removes it once
# it is empty.
csbx_cgroup_kill() {
  csbx_cgroup_valid "$1" || return 0
  { printf '1\n' >"$1/cgroup.kill"; } 2>/dev/null || return 0
  local events='' deadline=$((EPOCHSECONDS + 5)) tick
  csbx_open_pipe tick
  while ((EPOCHSECONDS < deadline)); do
    events=''
    IFS= read -r -d '' events 2>/dev/null <"$1/cgroup.events" || true
    [[ -n $events && $events != *'populated 1'* ]] && break
    read -r -t 0.01 -u "$tick" events || true
  done
  exec {tick}<&-
  # Joins' cgroups first: a cgroup with children cannot be removed.
  rmdir -- "$1"/join.* "$1" 2>/dev/null || true
}
