# shellcheck shell=bash
# --help: sourced only then.

csbx_usage() {
  local usage
  # read from a here-document instead of cat: no fork for --help.
  IFS= read -r -d '' usage <<'USAGE' || true
Usage: claude-sandbox [OPTIONS] [PROJECT-DIR] [-- AGENT-ARGS...]
       claude-sandbox doctor [--json]

Runs the agent (Claude Code by default) for PROJECT-DIR (default: .) inside a bubblewrap sandbox.
The project is read-write at its real path; the rest of the host is out of reach. One sandbox per
project: launching again joins the live one.

Options:
  --shell            run bash instead of the agent (AGENT-ARGS go to bash: -- -c 'cmd')
  --tmux             run the agent in a tmux session inside the sandbox and attach to it (the tmux
                     client runs inside too); on a live sandbox, attach to its session
  --gh-token         pass GH_TOKEN / GITHUB_TOKEN into the sandbox
  --no-network       loopback only; no route anywhere (also for shells that join with --enter)
  --enter            open a shell inside the live sandbox of PROJECT-DIR
  --new              start an extra sandbox even if one is live (it is not registered)
  --stop             stop the live sandbox of PROJECT-DIR, with everything running in it
  --ssh-keys         also expose ~/.ssh private keys (read-only); default is config + known_hosts only
  --die-with-parent  end the sandbox when the calling process dies
  --allow-userns     let the sandbox create user namespaces (rootless containers, a bwrap of its own,
                     Chromium's own sandbox); off by default, since in one the agent holds every
                     capability over the namespaces it makes, and reaches the kernel code behind them
  -h, --help         show this help

Limits (of a new sandbox; SIZE is bytes or a number with K, M, G or T, powers of 1024):
  --memory SIZE      memory of everything in the sandbox, tmpfs contents included; past it the
                     kernel's OOM killer ends a process inside (default: RAM/2, at most 8G)
  --swap SIZE        swap it may use on top (default: 0)
  --pids N           processes and threads at once (default: 4096; 16 to 4194304)
  --cpu-weight N     share of the CPU under contention, as cgroup v2's cpu.weight (default: 100,
                     every other group's; 1 to 10000)
  --tmpfs-size SIZE  size of each tmpfs the sandbox gets: /tmp, /dev/shm, /run, the home, ...
                     (default: RAM/8, at most 1G); a write past it fails with ENOSPC
  Memory, swap, processes and CPU weight are held by a cgroup of the sandbox's own (cgroup v2, or
  the v1 memory, pids and cpu hierarchies where the host mounts them), which needs root or a
  delegated cgroup; elsewhere the sandbox runs without them (a warning says so when a flag asked
  for one; 'claude-sandbox doctor' says what applies). A --new sandbox gets that cgroup only when
  one of these flags is given: the manager applies the limits itself.

Environment:
  CLAUDE_SANDBOX_AGENT  agent command (default: claude); a name on the sandbox PATH or an absolute
                        path visible inside (e.g. under the project dir)
  CLAUDE_SANDBOX_SPEC   sandbox spec JSON (default: launcher/sandbox-spec.json next to this program)
  CLAUDE_SANDBOX_PATH   extra directories put first on the sandbox PATH (the Nix build sets it)
  XDG_STATE_HOME        state lives in $XDG_STATE_HOME/claude-sandbox (default ~/.local/state)

Put arguments meant for the agent after '--', e.g.: claude-sandbox ~/src/app -- --model opus
USAGE
  printf '%s' "$usage"
}
