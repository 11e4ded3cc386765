#!/usr/bin/env bash
# claude-sandbox doctor: checks that this machine can run the bubblewrap sandbox, and prints for each problem a
# command the user can paste. Exit 0 when nothing FAILs, 1 otherwise, 2 for bad usage.
# Usage: claude-sandbox doctor [--json] [--help]
set -uo pipefail

usage() {
  cat <<'EOF'
Usage: claude-sandbox doctor [--json] [DIR]

Checks what the bubblewrap sandbox needs: unprivileged user namespaces (including Debian's and Ubuntu's
kernel switches), a working bwrap, the user-mode network helper (pasta or slirp4netns), iproute2, the display,
the agent binary, Chromium, jq, script (the terminal relay of joined shells) and whether sandboxes get a cgroup
of their own. Each line is ok, warn or FAIL; problems come with a command to fix them.
It also says which Claude settings of the project DIR (default: the current directory) define commands that
the host's claude runs, and which files those commands name.

  --json   print one JSON object per check: {"check","status","detail","fix"}
  --help   show this help

Exit status: 0 when no check FAILs, 1 when one does, 2 for bad usage.
EOF
}

json=0
project_dir=.
have_dir=0
for arg in "$@"; do
  case $arg in
  --json) json=1 ;;
  -h | --help)
    usage
    exit 0
    ;;
  -*)
    echo "claude-sandbox doctor: unknown option '$arg' (try --help)" >&2
    exit 2
    ;;
  *)
    if ((have_dir)); then
      echo "claude-sandbox doctor: unexpected argument '$arg' (one project dir at most; try --help)" >&2
      exit 2
    fi
    project_dir=$arg
    have_dir=1
    ;;
  esac
done

# Fix commands are meant to be pasted; as root, sudo is noise (and may not be installed).
sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo "

failed=0

json_string() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/\\r}
  s=${s//$'\t'/\\t}
  # Any other control character would make the line invalid JSON; bwrap/xdpyinfo errors do not carry them, but a
  # hostile DISPLAY value could.
  s=$(printf '%s' "$s" | tr -d '\000-\010\013\014\016-\037')
  printf '"%s"' "$s"
}

# report CHECK STATUS DETAIL [FIX]   STATUS is ok, warn or fail.
report() {
  local check=$1 status=$2 detail=$3 fix=${4:-}
  [[ $status == fail ]] && failed=1
  if ((json)); then
    printf '{"check":%s,"status":%s,"detail":%s,"fix":%s}\n' \
      "$(json_string "$check")" "$(json_string "$status")" "$(json_string "$detail")" "$(json_string "$fix")"
    return
  fi
  local label
  case $status in
  ok) label="ok  " ;;
  warn) label="warn" ;;
  *) label="FAIL" ;;
  esac
  printf '%s  %-22s %s\n' "$label" "$check" "$detail"
  if [[ -n $fix ]]; then
    printf '      %-22s fix: %s\n' "" "$fix"
  fi
}

# Tests point this at a fake tree to exercise kernels this machine is not (Debian's clone switch, Ubuntu's
# AppArmor restriction); the bwrap and pasta checks still run against the real kernel.
sysctl_dir=${CLAUDE_SANDBOX_DOCTOR_SYSCTL_DIR:-/proc/sys}

read_sysctl() {
  local file=$sysctl_dir/${1//.//}
  [[ -r $file ]] && cat "$file"
}

if [[ ${CLAUDE_SANDBOX:-} == 1 ]]; then
  report inside-sandbox warn "running inside a claude-sandbox: these results describe the sandbox, not the host" \
    "run claude-sandbox doctor on the host"
fi

# --- user namespaces -------------------------------------------------------------------------------------------
userns_off=0
userns_fix=""
max_userns=$(read_sysctl user.max_user_namespaces)
if [[ -z $max_userns ]]; then
  report userns.max warn "user.max_user_namespaces is not readable; cannot tell whether user namespaces are on"
elif ((max_userns == 0)); then
  userns_off=1
  userns_fix="${sudo}sysctl -w user.max_user_namespaces=15000 && echo user.max_user_namespaces=15000 | ${sudo}tee /etc/sysctl.d/90-claude-sandbox-userns.conf"
  report userns.max fail "user namespaces are disabled: user.max_user_namespaces = 0, so bwrap cannot create the sandbox" "$userns_fix"
else
  report userns.max ok "user.max_user_namespaces = $max_userns"
fi

clone=$(read_sysctl kernel.unprivileged_userns_clone)
if [[ -z $clone ]]; then
  report userns.debian-clone ok "kernel.unprivileged_userns_clone not present (this kernel has no such switch)"
elif [[ $clone == 0 ]]; then
  userns_off=1
  userns_fix="${userns_fix:+$userns_fix; }${sudo}sysctl -w kernel.unprivileged_userns_clone=1 && echo kernel.unprivileged_userns_clone=1 | ${sudo}tee -a /etc/sysctl.d/90-claude-sandbox-userns.conf"
  report userns.debian-clone fail "kernel.unprivileged_userns_clone = 0: unprivileged user namespaces are switched off (Debian kernel option)" \
    "${sudo}sysctl -w kernel.unprivileged_userns_clone=1 && echo kernel.unprivileged_userns_clone=1 | ${sudo}tee -a /etc/sysctl.d/90-claude-sandbox-userns.conf"
else
  report userns.debian-clone ok "kernel.unprivileged_userns_clone = $clone"
fi

apparmor=$(read_sysctl kernel.apparmor_restrict_unprivileged_userns)
if [[ -z $apparmor ]]; then
  report userns.apparmor ok "kernel.apparmor_restrict_unprivileged_userns not present (no Ubuntu AppArmor restriction)"
elif [[ $apparmor == 0 ]]; then
  report userns.apparmor ok "kernel.apparmor_restrict_unprivileged_userns = 0"
else
  # The restriction only matters if bwrap has no AppArmor profile granting userns; the bwrap run below decides.
  apparmor_restricted=1
  report userns.apparmor warn "kernel.apparmor_restrict_unprivileged_userns = $apparmor: Ubuntu's AppArmor blocks user namespaces for programs without a profile that allows them" \
    "${sudo}cp /usr/share/apparmor/extra-profiles/bwrap-userns-restrict /etc/apparmor.d/ && ${sudo}apparmor_parser -r /etc/apparmor.d/bwrap-userns-restrict   (or, less strict: ${sudo}sysctl -w kernel.apparmor_restrict_unprivileged_userns=0)"
fi

# --- bwrap ----------------------------------------------------------------------------------------------------
bwrap=$(command -v bwrap || true)
if [[ -z $bwrap ]]; then
  report bwrap fail "bwrap (bubblewrap) is not installed or not on PATH" \
    "${sudo}apt-get install -y bubblewrap   (Fedora: ${sudo}dnf install bubblewrap; Nix: nix profile install nixpkgs#bubblewrap)"
else
  version=$("$bwrap" --version 2>/dev/null || echo "unknown version")
  # The same namespaces the launcher asks for, so a kernel that refuses one of them shows up here, not at launch.
  bwrap_args=(--unshare-all --unshare-user --disable-userns --die-with-parent --new-session --ro-bind /usr /usr
    --symlink usr/bin /bin --symlink usr/lib /lib --proc /proc --dev /dev --tmpfs /tmp)
  [[ -d /usr/lib64 ]] && bwrap_args+=(--symlink usr/lib64 /lib64)
  [[ -d /nix/store ]] && bwrap_args+=(--ro-bind /nix/store /nix/store)
  true_bin=$(command -v true)
  [[ $true_bin == /bin/* ]] && true_bin=/usr$true_bin
  if err=$(timeout 20 "$bwrap" "${bwrap_args[@]}" -- "$true_bin" 2>&1); then
    report bwrap ok "$version at $bwrap runs a sandbox (user, mount, pid, ipc, uts, cgroup and net namespaces; no user namespaces inside)"
  else
    err=${err:-"exit status $? and no message"}
    fix="see the user-namespace checks above"
    if [[ $err == *"Unknown option --disable-userns"* ]]; then
      detail="$version is too old: the launcher turns nested user namespaces off with --disable-userns (bubblewrap 0.8.0 or later)"
      fix="upgrade bubblewrap to 0.8.0 or later (Debian 12 ships it); until then each launch needs --allow-userns"
    elif ((userns_off)); then
      detail="bwrap cannot create a sandbox because user namespaces are disabled (see above): $err"
      fix=$userns_fix
    elif [[ ${apparmor_restricted:-0} == 1 ]]; then
      detail="bwrap cannot create a sandbox: Ubuntu's AppArmor userns restriction is blocking it: $err"
      fix="${sudo}cp /usr/share/apparmor/extra-profiles/bwrap-userns-restrict /etc/apparmor.d/ && ${sudo}apparmor_parser -r /etc/apparmor.d/bwrap-userns-restrict"
    elif [[ $err == *"No permissions to creat"* || $err == *"uid map"* || $err == *"Operation not permitted"* ]]; then
      detail="bwrap is not allowed to create user namespaces here: $err"
      fix="${sudo}sysctl -w user.max_user_namespaces=15000; if this runs in a container, allow user namespaces in it (e.g. docker --security-opt seccomp=unconfined)"
    else
      detail="bwrap failed to run a trivial sandbox: $err"
      fix="run: $bwrap ${bwrap_args[*]} -- $true_bin   and fix the error it prints"
    fi
    report bwrap fail "$detail" "$fix"
  fi
fi

# --- network helper -------------------------------------------------------------------------------------------
pasta=$(command -v pasta || true)
slirp=$(command -v slirp4netns || true)
if [[ -n $pasta ]]; then
  if [[ -c /dev/net/tun ]]; then
    # As a user the launcher lets pasta create the namespaces, so try exactly that; as root pasta refuses to
    # (the launcher attaches it to bwrap's namespace instead), so there the presence check has to do.
    if [[ $(id -u) -ne 0 ]] && ! err=$(timeout 20 "$pasta" --config-net --no-map-gw -T none -U none -t none -u none \
      --quiet -- "$(command -v true)" 2>&1); then
      if ((userns_off)); then
        report network-helper fail "pasta cannot create its namespaces because user namespaces are disabled (see above): ${err:-no message}" "$userns_fix"
      else
        report network-helper fail "pasta is installed but cannot start a network namespace: ${err:-no message}" \
          "run: pasta --config-net -- true   and fix what it reports; or use claude-sandbox --no-network"
      fi
    else
      report network-helper ok "pasta at $pasta (user-mode networking that keeps the host loopback out of reach)"
    fi
  else
    report network-helper fail "pasta is installed but /dev/net/tun is missing, so sandboxes with network cannot start (--no-network still works)" \
      "${sudo}modprobe tun"
  fi
elif [[ -n $slirp ]]; then
  report network-helper ok "slirp4netns at $slirp (pasta from passt is preferred)"
else
  report network-helper fail "neither pasta (passt) nor slirp4netns is installed, so sandboxes with network cannot start (--no-network still works)" \
    "${sudo}apt-get install -y passt   (Fedora: ${sudo}dnf install passt; Nix: nixpkgs#passt)"
fi

# --- iproute2 -------------------------------------------------------------------------------------------------
# With network, the launcher adds unreachable routes for the host's own addresses inside the sandbox (services
# on 0.0.0.0 sit behind them); without ip it refuses to start a sandbox with network rather than leave them open.
if ip_path=$(command -v ip); then
  report iproute2 ok "ip at $ip_path (keeps the host's own addresses out of a sandbox's network)"
else
  report iproute2 fail "ip (iproute2) is not installed, so sandboxes with network cannot start: the host's own addresses could not be kept out of reach (--no-network still works)" \
    "${sudo}apt-get install -y iproute2"
fi

# --- state dir ------------------------------------------------------------------------------------------------
state_root=${XDG_STATE_HOME:-$HOME/.local/state}/claude-sandbox
probe_dir=$state_root
while [[ ! -e $probe_dir && $probe_dir == /* && $probe_dir != / ]]; do probe_dir=${probe_dir%/*}; done
[[ -z $probe_dir ]] && probe_dir=/
if [[ -d $probe_dir && -w $probe_dir && -x $probe_dir ]]; then
  report state-dir ok "per-project state goes to $state_root"
else
  report state-dir fail "cannot create the per-project state under $state_root: $probe_dir is not a writable directory for $(id -un)" \
    "set XDG_STATE_HOME to a directory you own, or: ${sudo}mkdir -p \"$state_root\" && ${sudo}chown \"$(id -un)\" \"$state_root\""
fi

# --- display --------------------------------------------------------------------------------------------------
display=${DISPLAY:-}
if [[ -z $display ]]; then
  report display warn "DISPLAY is not set: fine for headless agents, but Chromium inside needs a display" \
    "start one, e.g.: Xvfb :99 -nolisten tcp -auth ~/.Xauthority-99 &  then export DISPLAY=:99"
elif [[ ! $display =~ ^(unix)?:([0-9]+)(\.[0-9]+)?$ ]]; then
  report display warn "DISPLAY=$display is not a local display; only the local X socket /tmp/.X11-unix/X<n> is passed into the sandbox, so Chromium there will have no display" \
    "use a local X server (or Xvfb) and set DISPLAY=:<n>"
else
  n=${BASH_REMATCH[2]}
  xauth_file=${XAUTHORITY:-}
  if [[ ! -S /tmp/.X11-unix/X$n ]]; then
    report display warn "DISPLAY=$display but /tmp/.X11-unix/X$n does not exist (is the X server running?)" \
      "start the X server for $display, or unset DISPLAY for headless use"
  elif [[ -n $xauth_file && ! -r $xauth_file ]]; then
    report display warn "XAUTHORITY=$xauth_file is not readable, so clients (inside and out) cannot authenticate to $display" \
      "export XAUTHORITY=<the cookie file your X server uses>   (xauth list shows the cookies in a file)"
  elif command -v xdpyinfo >/dev/null; then
    if err=$(timeout 10 xdpyinfo -display "$display" 2>&1 >/dev/null); then
      report display ok "DISPLAY=$display reachable${xauth_file:+ with XAUTHORITY=$xauth_file}"
    else
      report display warn "DISPLAY=$display is not reachable${xauth_file:+ with XAUTHORITY=$xauth_file}: ${err:-xdpyinfo failed}" \
        "check the cookie: xauth -f \"\${XAUTHORITY:-\$HOME/.Xauthority}\" list; or point XAUTHORITY at the server's -auth file"
    fi
  else
    report display ok "DISPLAY=$display socket present (install x11-utils for a real connection check)"
  fi
fi

# Without xauth the launcher cannot cut the cookie file down to this display, so a sandbox would receive the
# cookies of every display listed in XAUTHORITY (other sandboxes' displays included).
if [[ -n $display ]] && ! command -v xauth >/dev/null; then
  report xauth warn "DISPLAY is set but xauth is not installed: the sandbox would get every cookie in ${XAUTHORITY:-~/.Xauthority}, not just this display's" \
    "${sudo}apt-get install -y xauth"
fi

# --- agent ----------------------------------------------------------------------------------------------------
agent=${CLAUDE_SANDBOX_AGENT:-claude}
agent_path=$(command -v -- "$agent" 2>/dev/null || true)
if [[ -z $agent_path ]]; then
  if [[ $agent == claude ]]; then
    fix="npm install -g @anthropic-ai/claude-code   (or set CLAUDE_SANDBOX_AGENT to the agent you run; claude-sandbox --shell works without one)"
  else
    fix="install $agent, or set CLAUDE_SANDBOX_AGENT to a program on PATH"
  fi
  report agent fail "agent '$agent' not found on PATH${CLAUDE_SANDBOX_AGENT:+ (from CLAUDE_SANDBOX_AGENT)}" "$fix"
else
  real=$(readlink -f -- "$agent_path" 2>/dev/null || echo "$agent_path")
  # The sandbox sees host /usr (and /nix/store) read-only but an empty HOME, so an agent installed under HOME
  # (~/.local/bin, ~/.npm-global) exists on the host but not inside.
  case $real in
  /usr/* | /bin/* | /sbin/* | /lib/* | /lib64/* | /nix/store/* | /opt/*)
    report agent ok "agent '$agent' at $agent_path"
    ;;
  *)
    report agent warn "agent '$agent' is at $real, outside the system directories the sandbox sees (/usr, /nix/store), so it may not be found inside" \
      "install it system-wide (e.g. sudo npm install -g @anthropic-ai/claude-code, which lands in /usr/local) or set CLAUDE_SANDBOX_AGENT"
    ;;
  esac
fi

# --- chromium -------------------------------------------------------------------------------------------------
chromium=""
for c in /usr/bin/chromium /run/current-system/sw/bin/chromium "$HOME/.nix-profile/bin/chromium" \
  /etc/profiles/per-user/"${USER:-$(id -un)}"/bin/chromium; do
  if [[ -x $c ]]; then
    chromium=$c
    break
  fi
done
[[ -z $chromium ]] && chromium=$(command -v chromium || command -v chromium-browser || true)
if [[ -n $chromium ]]; then
  report chromium ok "Chromium at $chromium"
else
  report chromium warn "Chromium not found: agents run, but have no browser" \
    "${sudo}apt-get install -y chromium   (Nix: nix profile install nixpkgs#chromium)"
fi

# --- jq -------------------------------------------------------------------------------------------------------
if jq_path=$(command -v jq); then
  report jq ok "jq at $jq_path"
else
  report jq fail "jq is not installed; the launcher reads the sandbox spec (JSON) with it" "${sudo}apt-get install -y jq"
fi

# --- optional helpers -----------------------------------------------------------------------------------------
if [[ -n ${DBUS_SESSION_BUS_ADDRESS:-} ]] && ! command -v xdg-dbus-proxy >/dev/null; then
  report dbus-proxy warn "a D-Bus session bus is set but xdg-dbus-proxy is missing, so the sandbox gets no (keyring) bus at all" \
    "${sudo}apt-get install -y xdg-dbus-proxy"
fi
if ! command -v tmux >/dev/null; then
  report tmux warn "tmux is not installed; --tmux will not work" "${sudo}apt-get install -y tmux"
fi

# --- joining a live sandbox -----------------------------------------------------------------------------------
# A shell that joins from a terminal (--enter, launching again, --tmux attach) gets a pty of its own, relayed by
# util-linux's script, so that the caller's terminal never reaches the sandbox.
if script_path=$(command -v script); then
  report join-relay ok "script at $script_path (gives shells that join a sandbox from a terminal one of their own)"
else
  report join-relay fail "script (util-linux) is not installed, so joining a live sandbox from a terminal (--enter, launching again, --tmux) cannot start" \
    "${sudo}apt-get install -y bsdutils   (elsewhere: util-linux; Nix: nixpkgs#util-linux)"
fi

# --- a cgroup of its own per sandbox ----------------------------------------------------------------------------
# The same test the launcher makes (lib/cgroup.sh): whether it may create a cgroup below the one it runs in.
doctor_dir=$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")
# shellcheck source=launcher/bubblewrap/lib/cgroup.sh
source "$doctor_dir/lib/cgroup.sh"
csbx_cgroup_parent
cg_self=$(sed -n 's/^0:://p' /proc/self/cgroup 2>/dev/null)
if [[ -n $csbx_cg_parent ]]; then
  report cgroup ok "sandboxes get a cgroup of their own below $csbx_cg_parent (--new ones only with --allow-userns): they see nothing above it, --stop ends all of it, and what a shell that joined starts ends with the join"
elif ! grep -q ' - cgroup2 ' /proc/self/mountinfo 2>/dev/null; then
  report cgroup warn "no cgroup2 hierarchy is mounted: sandboxes stay in the caller's cgroups, and what a shell that joined a sandbox leaves running lives on until --stop" \
    "boot with the unified cgroup hierarchy (systemd: systemd.unified_cgroup_hierarchy=1)"
else
  report cgroup warn "your cgroup ${cg_self:-?} is not writable for $(id -un) (not delegated to you, or cgroupfs is read-only): sandboxes stay in it, which is harmless since it is not writable from inside either, but what a shell that joined a sandbox leaves running lives on until --stop" \
    "start the launcher in a cgroup delegated to you: systemd-run --user --scope claude-sandbox DIR"
fi

# --- resource limits -------------------------------------------------------------------------------------------
# Where the launcher's cgroup job (lib/cgroup.sh) would put each limit: in cgroup v2 when the controller reaches
# a cgroup made below this one (listed in its subtree_control, or enabled there since it holds no process or is
# the root), else in the controller's v1 hierarchy when a cgroup may be made there; otherwise it is not applied.
csbx_cgroup_v1_parents self
limits_held=() limits_missing=()
cg_controllers='' cg_subtree='' cg_procs=''
if [[ -n $csbx_cg_parent ]]; then
  cg_controllers=$(cat -- "$csbx_cg_parent/cgroup.controllers" 2>/dev/null || true)
  cg_subtree=$(cat -- "$csbx_cg_parent/cgroup.subtree_control" 2>/dev/null || true)
  cg_procs=$(cat -- "$csbx_cg_parent/cgroup.procs" 2>/dev/null || true)
fi
for ctrl in memory pids cpu; do
  where=''
  if [[ " $cg_subtree " == *" $ctrl "* ]] ||
    [[ " $cg_controllers " == *" $ctrl "* && ($cg_self == / || -z $cg_procs) ]]; then
    where="cgroup v2 below $csbx_cg_parent"
  else
    for e in "${csbx_cg_v1[@]}"; do
      [[ ${e%%=*} == "$ctrl" ]] && where="cgroup v1 below ${e#*=}"
    done
  fi
  name=$ctrl
  [[ $ctrl == pids ]] && name=processes
  [[ $ctrl == cpu ]] && name='cpu weight'
  if [[ -n $where ]]; then limits_held+=("$name ($where)"); else limits_missing+=("$name"); fi
done
if ((${#limits_missing[@]} == 0)); then
  report limits ok "sandboxes get limits on $(IFS=,; printf '%s' "${limits_held[*]}" | sed 's/,/, /g'), and every tmpfs a size (--memory, --swap, --pids, --cpu-weight, --tmpfs-size; --new ones take the cgroup limits only with a flag)"
else
  why="no cgroup with those controllers may be made below your cgroup ${cg_self:-?}"
  [[ -n $csbx_cg_parent && -n $cg_procs && $cg_self != / ]] &&
    why="your cgroup $csbx_cg_parent holds processes, so it cannot hand its controllers (${cg_controllers:-none}) to a cgroup below it, and no v1 hierarchy of them is writable"
  [[ -n $csbx_cg_parent ]] || why+=" (not writable for $(id -un): not delegated, or cgroupfs is read-only)"
  report limits warn "sandboxes run without limits on $(IFS=,; printf '%s' "${limits_missing[*]}" | sed 's/,/, /g'): $why; every tmpfs is sized all the same${limits_held[*]:+; held: $(IFS=,; printf '%s' "${limits_held[*]}")}" \
    "run as root, or in a cgroup delegated to you with the controllers enabled: systemd-run --user --scope -p Delegate=yes claude-sandbox DIR"
fi

# --- project settings that run commands on the host ----------------------------------------------------------
# The host's claude runs the hooks, statusLine and *Helper commands of the project's settings and the servers of
# its .mcp.json, with the project as working directory. The launcher keeps .claude/ and the files those commands
# name read-only inside, but not what the named scripts run in turn (npm scripts, a Makefile, node_modules).
if [[ -d $project_dir ]] && real_dir=$(cd -P -- "$project_dir" 2>/dev/null && pwd -P); then
  # shellcheck source=launcher/bubblewrap/lib/hooks.sh
  source "$doctor_dir/lib/hooks.sh"
  hook_files=()
  while IFS= read -r -d '' f; do hook_files+=("$f"); done < <(
    find "$real_dir" -maxdepth 3 \( -name node_modules -o -name .git \) -prune -o \
      \( -path '*/.claude/settings.json' -o -path '*/.claude/settings.local.json' -o -name .mcp.json \) -print0 2>/dev/null | sort -z
  )
  hook_detail=''
  for f in "${hook_files[@]}" "$HOME/.claude/settings.json" "$HOME/.claude/settings.local.json"; do
    kind=settings
    [[ $f == */.mcp.json ]] && kind=mcp
    root=${f%/.claude/*}
    [[ $kind == mcp ]] && root=${f%/.mcp.json}
    [[ $f == "$HOME/.claude/"* ]] && root=$real_dir
    [[ -f $f && -r $f ]] || continue
    text=$(<"$f")
    csbx_hooks_parse "$kind" "$f" "$root" "$text"
    ((${#csbx_hook_defined[@]})) || continue
    named=()
    for ((i = 0; i < ${#csbx_hook_cand[@]}; i += 2)); do
      p=${csbx_hook_cand[i + 1]}
      [[ $p == "$real_dir"/* ]] || continue
      [[ ${csbx_hook_cand[i]} == s || -f $p ]] || continue
      named+=("${p#"$real_dir"/}")
    done
    # The user's own settings matter here only for the files they name in the project.
    [[ $f == "$HOME/.claude/"* && ${#named[@]} -eq 0 ]] && continue
    hook_detail+="${hook_detail:+; }$f"
    ((${#named[@]})) && hook_detail+=" (names ${named[*]})"
  done
  if [[ -n $hook_detail ]]; then
    report project-hooks warn "commands the host's claude runs in $real_dir are defined by: $hook_detail. Inside a sandbox these settings and the files named are read-only, but not what those files run in turn (npm scripts, a Makefile, node_modules)" \
      "after a session, review these commands and what they run before starting claude on the host in $real_dir"
  else
    report project-hooks ok "no Claude settings or .mcp.json in $real_dir define commands for the host's claude"
  fi
fi

if ((!json)); then
  if ((failed)); then
    echo "claude-sandbox doctor: some checks FAILed; run the fix lines above, then run claude-sandbox doctor again." >&2
  else
    echo "claude-sandbox doctor: this machine can run claude-sandbox."
  fi
fi
exit "$failed"
