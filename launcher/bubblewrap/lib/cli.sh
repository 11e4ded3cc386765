# shellcheck shell=bash
# Command line: options, project dir, agent args. Sets opt_*, project_arg and agent_args.

csbx_parse_args() {
  opt_shell=0 opt_tmux=0 opt_gh_token=0 opt_network=1 opt_enter=0 opt_new=0 opt_stop=0
  opt_ssh_keys=0 opt_die_with_parent=0 opt_allow_userns=0 opt_limits=0 opt_limit_flags=0
  lim_memory='' lim_swap='' lim_pids='' lim_cpu_weight='' lim_tmpfs=''
  project_arg=
  local have_project=0
  agent_args=()
  while (($#)); do
    case $1 in
      --shell) opt_shell=1 ;;
      --tmux) opt_tmux=1 ;;
      --gh-token) opt_gh_token=1 ;;
      --no-network) opt_network=0 ;;
      --enter) opt_enter=1 ;;
      --new) opt_new=1 ;;
      --stop) opt_stop=1 ;;
      --ssh-keys) opt_ssh_keys=1 ;;
      --die-with-parent) opt_die_with_parent=1 ;;
      --allow-userns) opt_allow_userns=1 ;;
      --memory | --swap | --pids | --cpu-weight | --tmpfs-size)
        (($# > 1)) || csbx_die 2 "$1 needs a value, e.g. $1 ${csbx_limit_example[$1]}"
        csbx_limit_flag "$1" "$2"
        shift
        ;;
      --memory=* | --swap=* | --pids=* | --cpu-weight=* | --tmpfs-size=*)
        csbx_limit_flag "${1%%=*}" "${1#*=}"
        ;;
      -h | --help)
        # shellcheck source=launcher/bubblewrap/lib/usage.sh
        source "$csbx_dir/lib/usage.sh"
        csbx_usage
        exit 0
        ;;
      --)
        shift
        agent_args=("$@")
        break
        ;;
      -*)
        csbx_die 2 "unknown option '$1'. Options for the agent go after '--', e.g.: claude-sandbox [DIR] -- $1"
        ;;
      *)
        if ((have_project)); then
          csbx_die 2 "unexpected argument '$1' (the project dir is already '$project_arg'). Arguments for the agent go after '--', e.g.: claude-sandbox $project_arg -- $1"
        fi
        project_arg=$1
        have_project=1
        ;;
    esac
    shift
  done
  if ((opt_enter + opt_new + opt_stop > 1)); then
    csbx_die 2 "--enter, --new and --stop exclude each other; use one"
  fi
  # Limits are a new sandbox's: a shell that joins or a stop changes none of a live one's.
  if ((opt_limit_flags && (opt_enter || opt_stop))); then
    csbx_die 2 "--memory, --swap, --pids, --cpu-weight and --tmpfs-size set up a new sandbox; --enter and --stop act on a live one and take none of them"
  fi
  csbx_limits_resolve
  # --enter always opens a shell; the agent args are the shell's.
  ((opt_enter)) && opt_shell=1
  return 0
}

declare -A csbx_limit_example=([--memory]=4G [--swap]=0 [--pids]=1024 [--cpu-weight]=100 [--tmpfs-size]=512M)
# shellcheck source=launcher/bubblewrap/lib/limits.sh
source "$csbx_dir/lib/limits.sh"

# The lists below come from launcher/protected-paths.json, which the manager's CreateSandbox reads too.
# shellcheck source=launcher/bubblewrap/lib/protected-paths.sh
source "$csbx_dir/lib/protected-paths.sh"

# Real path of the project, checked. Refuses dirs whose read-write bind would hand the sandbox the
# user's home or the launcher's own state (the registry must never be writable from inside).
csbx_resolve_project() {
  local arg=${project_arg:-.}
  [[ -e $arg ]] || csbx_die 1 "project dir '$arg' does not exist; create it or pass an existing directory"
  [[ -d $arg ]] || csbx_die 1 "project dir '$arg' is not a directory"
  # Opened once, and from then on reached only through this descriptor (project_fd): a running sandbox of
  # a parent directory can swap the path for a symlink (to ~/.ssh) at any moment, and whatever re-walks
  # the path afterwards (bwrap binding it, mkdir of .claude) would follow it. So the real path is taken
  # from the descriptor (cd -P through /proc/self/fd: no fork), every check below judges that path, the
  # launcher creates what it needs relative to the descriptor (mounts-project.sh), and bwrap binds the
  # descriptor itself (--bind-fd). "/." makes the open fail for anything but a directory (a FIFO
  # swapped in would block it).
  { exec {project_fd}<"$arg/."; } 2>/dev/null || csbx_die 1 "cannot open project dir '$arg' (permission denied?)"
  cd -P -- "/proc/self/fd/$project_fd" 2>/dev/null || csbx_die 1 "cannot enter project dir '$arg' (permission denied?)"
  project=$PWD
  # PWD was resolved from the descriptor's path; it must still name what was opened.
  [[ $project -ef /proc/self/fd/$project_fd ]] ||
    csbx_die 1 "project dir '$arg' changed while the sandbox was being set up (a running sandbox may be racing this launch); not starting"
  [[ -n ${HOME-} && $HOME == /* ]] || csbx_die 1 "HOME is not set to an absolute path; set HOME to your home directory"
  [[ $project != / ]] || csbx_die 1 "refusing project dir '/': the sandbox would get the whole host read-write; use a project directory"
  local p q real
  for p in "$HOME" "${XDG_STATE_HOME:-$HOME/.local/state}"; do
    if [[ $p == "$project" || $p == "$project"/* ]]; then
      csbx_die 1 "refusing project dir '$project': it contains $p, which the sandbox must not be able to write; use a project subdirectory"
    fi
  done
  # What the sandbox gets read-only or not at all must not come back read-write as (part of) the project:
  # the project bind is mounted over them. Compared by the path and by its real path (cd -P, no fork),
  # since either side may be reached through a symlink.
  for p in "${csbx_protected_home[@]/#/"$HOME"/}" "${XDG_STATE_HOME:-$HOME/.local/state}"; do
    real=$p
    if [[ -d $p ]] && cd -P -- "$p" 2>/dev/null; then real=$PWD; fi
    for q in "$p" "$real"; do
      if [[ $q == "$project" || $q == "$project"/* || $project == "$q"/* ]]; then
        csbx_die 1 "refusing project dir '$project': the sandbox keeps $q out of reach or read-only, and a project dir that is, holds or lies inside it would make it writable; use another directory"
      fi
    done
  done
  # The host system: a sandbox started by root writes there as the host's root (a manager running as
  # root takes project dirs from its API clients), and no user project lives there.
  for p in "${csbx_protected_system[@]}"; do
    if [[ $project == "$p" || $project == "$p"/* ]]; then
      csbx_die 1 "refusing project dir '$project': it is part of the host system ($p), which the sandbox must not be able to write; use a directory of your own"
    fi
  done
  # Sockets the sandbox must not reach (other X displays, the user's host tmux server, the session
  # bus, the SSH agent), other users' homes, other programs' files: a project dir that holds them
  # would bind them all in, read-write.
  local agent_dir=${SSH_AUTH_SOCK-}
  agent_dir=${agent_dir%/*}
  for p in "${csbx_protected_holders[@]}" "/tmp/tmux-$EUID" "/run/user/$EUID" "${XDG_RUNTIME_DIR-}" "$agent_dir"; do
    if [[ $p == /?* && ($p == "$project" || $p == "$project"/*) ]]; then
      csbx_die 1 "refusing project dir '$project': it is or holds $p (host sockets, other users' or programs' files), which the sandbox must not reach; use a project subdirectory"
    fi
  done
  # Back into the opened directory (if a check above left it), not into whatever the path names now.
  [[ . -ef /proc/self/fd/$project_fd ]] || cd -P -- "/proc/self/fd/$project_fd" ||
    csbx_die 1 "cannot enter project dir '$project'"
}
