# shellcheck shell=bash
# The display (X11, Wayland), audio sockets and the filtered session bus: sourced only when the caller has
# any of them.

# Only this sandbox's display: its X socket and a cookie for that display alone.
csbx_fs_display() {
  if [[ -n ${DISPLAY-} ]]; then
    local num=${DISPLAY#unix}
    if [[ $num =~ ^:([0-9]+)(\.[0-9]+)?$ ]]; then
      local sock=/tmp/.X11-unix/X${BASH_REMATCH[1]}
      if [[ -S $sock ]]; then
        bw+=(--size "$lim_tmpfs" --tmpfs /tmp/.X11-unix --ro-bind "$sock" "$sock")
        csbx_env_add DISPLAY "$DISPLAY"
        csbx_fs_xauth "${BASH_REMATCH[1]}"
      else
        csbx_warn "DISPLAY=$DISPLAY but $sock is not a socket; starting without a display"
      fi
    else
      csbx_warn "DISPLAY=$DISPLAY is not a local display (:N); X over TCP is not forwarded"
    fi
  fi
  if [[ -n ${WAYLAND_DISPLAY-} && -n ${XDG_RUNTIME_DIR-} && $WAYLAND_DISPLAY != */* ]]; then
    if [[ -S $XDG_RUNTIME_DIR/$WAYLAND_DISPLAY ]]; then
      bw+=(--ro-bind "$XDG_RUNTIME_DIR/$WAYLAND_DISPLAY" "$sbx_runtime_dir/$WAYLAND_DISPLAY")
      csbx_env_add WAYLAND_DISPLAY "$WAYLAND_DISPLAY"
    fi
  fi
  if [[ -n ${XDG_RUNTIME_DIR-} ]]; then
    [[ -S $XDG_RUNTIME_DIR/pipewire-0 ]] &&
      bw+=(--ro-bind "$XDG_RUNTIME_DIR/pipewire-0" "$sbx_runtime_dir/pipewire-0")
    [[ -S $XDG_RUNTIME_DIR/pulse/native ]] &&
      bw+=(--ro-bind "$XDG_RUNTIME_DIR/pulse/native" "$sbx_runtime_dir/pulse/native")
  fi
  return 0
}

csbx_fs_xauth() {
  local src=${XAUTHORITY:-$HOME/.Xauthority}
  [[ -r $src ]] || return 0
  local dest=$sbx_runtime_dir/Xauthority fd
  # Only this display's cookie: the user's file may hold cookies of other displays (other sandboxes).
  if command -v xauth >/dev/null; then
    # -i: no lock file, which could not be created next to a cookie file in a directory we cannot write.
    exec {fd}< <(xauth -i -f "$src" extract - "$DISPLAY" 2>/dev/null)
  else
    # Never the whole file: without xauth, cut it down ourselves.
    # shellcheck source=launcher/bubblewrap/lib/xauth.sh
    source "$csbx_dir/lib/xauth.sh"
    csbx_xauth_entries "$src" "$1"
    if [[ -z $csbx_xauth_out ]]; then
      csbx_warn "no cookie for display :$1 in $src (read without xauth); the sandbox gets the display without one"
      return 0
    fi
    exec {fd}< <(printf '%b' "$csbx_xauth_out")
  fi
  bw+=(--perms 0600 --ro-bind-data "$fd" "$dest")
  csbx_env_add XAUTHORITY "$dest"
}

# The session bus only through xdg-dbus-proxy, filtered to the Secret Service (the keyring) and
# nothing else: no systemd --user, no portals, no other application (seed bug: the whole bus was
# forwarded). The system bus is not forwarded at all; see the report in README for why.
# The proxy writes a byte on its --fd when ready and exits when that pipe's read end is closed; bwrap
# keeps the read end open in the sandbox's pid 1 (--sync-fd), so the proxy lives exactly as long as
# the sandbox.
csbx_fs_dbus() {
  [[ -n ${DBUS_SESSION_BUS_ADDRESS-} ]] || return 0
  local tool_xdg_dbus_proxy
  if ! hash xdg-dbus-proxy 2>/dev/null; then
    csbx_warn "DBUS_SESSION_BUS_ADDRESS is set but xdg-dbus-proxy is not installed; the sandbox gets no session bus (Debian: apt-get install xdg-dbus-proxy)"
    return 0
  fi
  tool_xdg_dbus_proxy=${BASH_CMDS[xdg-dbus-proxy]}
  local dir=$state/dbus f pid
  [[ -d $dir ]] || mkdir -m 0700 -- "$dir" 2>/dev/null || [[ -d $dir ]] || csbx_die 1 "cannot create $dir"
  for f in "$dir"/bus.*; do
    pid=${f##*.}
    [[ $pid =~ ^[0-9]+$ && -e /proc/$pid ]] || rm -f -- "$f"
  done
  local sock=$dir/bus.$BASHPID sync ready=''
  # The proxy lives as long as the sandbox: it must not keep the launch lock (registry.sh).
  exec {sync}< <(exec {csbx_lock_fd}>&- "$tool_xdg_dbus_proxy" --fd=1 "$DBUS_SESSION_BUS_ADDRESS" "$sock" --filter \
    --talk=org.freedesktop.secrets)
  if ! IFS= read -r -N 1 -t 5 -u "$sync" ready || [[ ! -S $sock ]]; then
    csbx_warn "xdg-dbus-proxy did not start for DBUS_SESSION_BUS_ADDRESS=$DBUS_SESSION_BUS_ADDRESS; the sandbox gets no session bus"
    exec {sync}<&-
    return 0
  fi
  bw+=(--sync-fd "$sync" --ro-bind "$sock" "$sbx_runtime_dir/bus")
  csbx_env_add DBUS_SESSION_BUS_ADDRESS "unix:path=$sbx_runtime_dir/bus"
}
