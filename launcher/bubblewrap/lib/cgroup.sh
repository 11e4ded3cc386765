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

# Starts the job that creates this launch's cgroup and moves this process into it (see above; launch.sh
# skips it for a --new sandbox without --allow-userns); the process that will exec bwrap calls it, since
# the cgroup is named after that pid. Sets csbx_cg ('' when there is none) and csbx_cg_job.
csbx_cgroup_start() {
  csbx_cg='' csbx_cg_job='' csbx_cg_owner=$BASHPID
  csbx_cgroup_parent
  [[ -n $csbx_cg_parent ]] || return 0
  local tool_mkdir tool_rmdir d p stale=() me=$BASHPID
  hash mkdir rmdir 2>/dev/null || return 0
  tool_mkdir=${BASH_CMDS[mkdir]} tool_rmdir=${BASH_CMDS[rmdir]}
  csbx_cg=$csbx_cg_parent/claude-sandbox.$me
  for d in "$csbx_cg_parent"/claude-sandbox.*; do
    p=${d##*.}
    [[ $p =~ ^[0-9]+$ && ! -e /proc/$p && $d != "$csbx_cg" ]] && stale+=("$d"/join.* "$d")
  done
  # -p: the same pid may have made it already (the root-with-network launch runs itself again under
  # setpriv, and exec keeps the pid), and then it is this launch's own.
  (
    "$tool_mkdir" -p -- "$csbx_cg" 2>/dev/null || exit 1
    { printf '%s\n' "$me" >"$csbx_cg/cgroup.procs"; } 2>/dev/null || exit 1
    ((${#stale[@]} == 0)) || "$tool_rmdir" -- "${stale[@]}" 2>/dev/null &
  ) {csbx_lock_fd}>&- &
  csbx_cg_job=$!
}

# Waits until this process is in its cgroup (started with csbx_cgroup_start, here if not yet), so that
# bwrap, and the cgroup namespace it makes, start there. Without one the sandbox stays where the caller
# is.
csbx_cgroup_enter() {
  [[ ${csbx_cg_owner-} == "$BASHPID" ]] || csbx_cgroup_start
  [[ -n $csbx_cg ]] || return 0
  if ! wait "$csbx_cg_job"; then
    ((opt_allow_userns)) &&
      csbx_warn "could not move the sandbox into a cgroup of its own ($csbx_cg); with --allow-userns it can kill or freeze the processes of $csbx_cg_parent"
    csbx_cg=''
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
