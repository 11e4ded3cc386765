# shellcheck shell=bash
# The sandbox's filesystem, as bwrap arguments in `bw`. Order matters: a mount must come after the
# mount that holds its mount point. Everything not listed here does not exist inside (bwrap's root is an
# empty tmpfs, private to the sandbox).
#
# Every mount costs bwrap a syscall round and a walk of the mount table, about 0.15 ms each here: what
# the sandbox needs as a directory or file of its own goes on a tmpfs that exists anyway (the root,
# /dev, /etc, the home tmpfs), and small read-only content is copied in (bwrap --file) rather than
# bound, wherever that changes nothing the sandbox could use against the host.

csbx_fs_system() {
  # bwrap covers /proc/sys only when it is writable for the caller, which its 0555 directory never
  # is; but root-owned sysctl files are writable to a sandbox started by root (its uid 0 is the host's).
  # /dev/shm is a tmpfs of its own on bwrap's /dev: never the host's, and sized, as every tmpfs here is
  # (--size, limits.sh): bwrap's root and /dev tmpfs cannot be, so both become read-only at the end
  # (csbx_build_mounts) and whatever the sandbox may write lives on a sized tmpfs.
  bw+=(--proc /proc --ro-bind /proc/sys /proc/sys --dev /dev
    --size "$lim_tmpfs" --perms 01777 --tmpfs /dev/shm)
  # Debian merges /usr: /bin, /lib*, /sbin are symlinks into it. Mirror what the host has.
  bw+=(--ro-bind /usr /usr)
  local d
  for d in bin sbin lib lib32 lib64 libx32; do
    if [[ -L /$d ]]; then
      bw+=(--symlink "usr/$d" "/$d")
    elif [[ -d /$d ]]; then
      bw+=(--ro-bind "/$d" "/$d")
    fi
  done
  if [[ -d /nix/store ]]; then
    bw+=(--ro-bind /nix/store /nix/store)
  fi
  bw+=(--dev-bind-try /dev/dri /dev/dri)
  csbx_fs_etc
  # /tmp is the sandbox's own tmpfs, never the host's shared /tmp; sized, so a filler meets ENOSPC
  # there instead of filling the disk or the RAM. /run too: it holds the runtime dir sockets are bound
  # into and the generated chromium wrapper, and it must stay writable when the root becomes read-only.
  bw+=(--size "$lim_tmpfs" --perms 01777 --tmpfs /tmp --perms 0755 --dir /var --symlink ../tmp /var/tmp)
  bw+=(--size "$lim_tmpfs" --perms 0755 --tmpfs /run --perms 0700 --dir "$sbx_runtime_dir")
}

# /etc: only what the spec lists, on a tmpfs that is made read-only once complete (csbx_build_mounts).
# Files are copied in (bwrap --file), directories bound; copies of the thirty-odd small files cost
# next to nothing where binds would cost a mount each. A copy is what a bind of a file gives anyway
# once the host replaces it by rename, as resolver and account tools do. Symlinks are followed on the host (resolv.conf often points into /run), so the
# sandbox gets the content, not a dangling link. What cannot be read is left out.
csbx_fs_etc() {
  bw+=(--size "$lim_tmpfs" --perms 0755 --tmpfs /etc)
  local e fd
  # Entries are plain relative names without "..": the spec loader keeps no others.
  for e in "${spec_etc[@]}"; do
    if [[ -f /etc/$e && -r /etc/$e ]]; then
      exec {fd}<"/etc/$e" || continue
      [[ $e != */* ]] || bw+=(--dir "/etc/${e%/*}")
      bw+=(--perms 0444 --file "$fd" "/etc/$e")
    elif [[ -e /etc/$e ]]; then
      bw+=(--ro-bind-try "/etc/$e" "/etc/$e")
    fi
  done
}

# A host directory or file the sandbox may read, when it exists. Dangling binds must not fail the
# launch (seed bug: an X socket left behind by a restarted server did).
csbx_ro_if_exists() {
  if [[ -e $1 ]]; then bw+=(--ro-bind "$1" "${2:-$1}"); fi
}

csbx_fs_home() {
  bw+=(--size "$lim_tmpfs" --perms 0700 --tmpfs "$HOME")
  csbx_fs_claude
  csbx_ro_if_exists "$HOME/.gitconfig"
  csbx_ro_if_exists "$HOME/.config/git"
  # hosts.yml holds gh's token: with --gh-token only, like GH_TOKEN.
  if ((opt_gh_token)); then
    csbx_ro_if_exists "$HOME/.config/gh"
  else
    csbx_ro_if_exists "$HOME/.config/gh/config.yml"
  fi
  if ((opt_ssh_keys)); then
    csbx_ro_if_exists "$HOME/.ssh"
  else
    csbx_ro_if_exists "$HOME/.ssh/config"
    csbx_ro_if_exists "$HOME/.ssh/known_hosts"
  fi
  local d
  for d in bin lib share; do
    bw+=(--bind "$state/local/$d" "$HOME/.local/$d")
  done
  # The state dir inside shows only what the sandbox needs; the registry (ns) stays invisible. The tmux
  # socket dir exists only inside: the agent controls that server, and a host tmux client attached to it
  # could be made to run commands, so the host gets no socket to point one at. Nothing bwrap creates
  # there may land on the host: in the default place (~/.local/state) the state dir is a directory of
  # the home tmpfs; anywhere else (XDG_STATE_HOME may even lie under the sandbox's /tmp, where a symlink
  # left behind would fail the next run) it gets a tmpfs of its own. tmux.conf is a copy: the user edits
  # it on the host, and the sandbox's tmux reads it at start.
  if [[ $state == "$HOME"/.local/state/* ]]; then
    bw+=(--perms 0700 --dir "$state")
  else
    bw+=(--size "$lim_tmpfs" --perms 0700 --tmpfs "$state")
  fi
  local fd
  exec {fd}<"$state/tmux.conf"
  bw+=(--bind "$state/chromium" "$state/chromium"
    --perms 0444 --file "$fd" "$state/tmux.conf"
    --perms 0700 --dir "$state/tmux.d"
    --symlink tmux.d/sock "$state/tmux.sock")
}

csbx_fs_sockets() {
  if [[ -n ${SSH_AUTH_SOCK-} && -S $SSH_AUTH_SOCK ]]; then
    bw+=(--ro-bind "$SSH_AUTH_SOCK" "$sbx_runtime_dir/ssh-agent.sock")
    csbx_env_add SSH_AUTH_SOCK "$sbx_runtime_dir/ssh-agent.sock"
  fi
  if [[ -S /nix/var/nix/daemon-socket/socket ]]; then
    bw+=(--ro-bind /nix/var/nix/daemon-socket /nix/var/nix/daemon-socket)
    csbx_env_add NIX_REMOTE daemon
  fi
}

# Chromium: a wrapper first on PATH that gives each project its own profile and hides the session bus
# (Chromium's D-Bus singleton would otherwise hand a URL to another sandbox's browser), and the
# managed extension policy from the spec.
csbx_fs_chromium() {
  local real=${CLAUDE_SANDBOX_CHROMIUM:-} d dirs
  if [[ -z $real ]]; then
    # A PATH walk instead of `type -P` in a subshell: no fork on the hot path.
    IFS=: read -r -a dirs <<<"${CLAUDE_SANDBOX_PATH:+$CLAUDE_SANDBOX_PATH:}$PATH"
    for d in "${dirs[@]}"; do
      if [[ $d == /* && -x $d/chromium ]]; then
        real=$d/chromium
        break
      fi
    done
  fi
  if [[ -n $real ]]; then
    # Chromium's own sandbox is built on user namespaces of its own, which a sandbox gets only with
    # --allow-userns (and Chromium refuses it as uid 0 anyway): otherwise it runs with --no-sandbox and
    # the bwrap sandbox holds it, renderers included.
    local fd flags=''
    ((uid == 0 || !opt_allow_userns)) && flags=' --no-sandbox'
    exec {fd}<<<"#!/bin/sh
# Generated by claude-sandbox: per-project profile, no D-Bus singleton shared between sandboxes.
unset DBUS_SESSION_BUS_ADDRESS
if [ -n \"\$CHROMIUM_USER_DATA_DIR\" ]; then
  exec ${real@Q}$flags --user-data-dir=\"\$CHROMIUM_USER_DATA_DIR\" \"\$@\"
fi
exec ${real@Q}$flags \"\$@\""
    # A file of the sandbox's own /run (the root tmpfs), not a mount.
    bw+=(--perms 0555 --file "$fd" /run/claude-sandbox/bin/chromium
      --symlink chromium /run/claude-sandbox/bin/chromium-browser)
  fi
  # Into the /etc tmpfs, which becomes read-only after this.
  local pfd
  exec {pfd}<<<"$spec_policy"
  bw+=(--dir /etc/chromium/policies/managed
    --perms 0444 --file "$pfd" /etc/chromium/policies/managed/claude-sandbox.json)
}

# Sets csbx_seccomp_file to the cached filter (see seccomp.sh), or to '' where it does not apply.
csbx_seccomp_file() {
  csbx_seccomp_file=''
  [[ $HOSTTYPE == x86_64 ]] || return 0
  # Rebuilt when seccomp.sh is newer than the cache, or is another file than the one it was built from:
  # an upgrade through Nix brings a new store path whose files all carry the same old mtime.
  local f=$state_root/seccomp.bpf gen=$csbx_dir/lib/seccomp.sh from=''
  [[ -s $f.from ]] && IFS= read -r from <"$f.from"
  if [[ ! -s $f || $from != "$gen" || $gen -nt $f ]]; then
    # shellcheck source=launcher/bubblewrap/lib/seccomp.sh
    source "$gen"
    csbx_seccomp_program
    printf '%b' "$csbx_bpf_prog" >"$f.$BASHPID"
    mv -f -- "$f.$BASHPID" "$f"
    printf '%s\n' "$gen" >"$f.from.$BASHPID"
    mv -f -- "$f.from.$BASHPID" "$f.from"
  fi
  csbx_seccomp_file=$f
}

# shellcheck source=launcher/bubblewrap/lib/mounts-checked.sh
source "$csbx_dir/lib/mounts-checked.sh"
# shellcheck source=launcher/bubblewrap/lib/mounts-claude.sh
source "$csbx_dir/lib/mounts-claude.sh"
# shellcheck source=launcher/bubblewrap/lib/mounts-project.sh
source "$csbx_dir/lib/mounts-project.sh"

csbx_build_mounts() {
  bw=()
  csbx_seccomp_file
  if [[ -n $csbx_seccomp_file ]]; then
    local sfd
    exec {sfd}<"$csbx_seccomp_file"
    bw+=(--seccomp "$sfd")
  fi
  csbx_fs_system
  csbx_fs_home
  csbx_fs_project
  if [[ -n ${DISPLAY-}${WAYLAND_DISPLAY-}${XDG_RUNTIME_DIR-}${DBUS_SESSION_BUS_ADDRESS-} ]]; then
    # shellcheck source=launcher/bubblewrap/lib/display.sh
    source "$csbx_dir/lib/display.sh"
    csbx_fs_display
    csbx_fs_dbus
  fi
  csbx_fs_sockets
  csbx_fs_chromium
  # Last: everything that goes into the /etc tmpfs is in it now, and every mount point on bwrap's root
  # and /dev tmpfs exists: neither can be sized, so neither stays writable (a sandbox started by root
  # could otherwise fill them up to half the RAM each). Mounts below them keep their own flags.
  bw+=(--remount-ro /etc --remount-ro /dev --remount-ro /)
}
