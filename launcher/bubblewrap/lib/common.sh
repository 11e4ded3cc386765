# shellcheck shell=bash
# Messages and exits shared by the launcher's modules. Every failure names the problem and what to do.

# csbx_die STATUS MESSAGE...: print "claude-sandbox: MESSAGE" on stderr and exit with STATUS.
csbx_die() {
  local status=$1
  shift
  printf 'claude-sandbox: %s\n' "$*" >&2
  exit "$status"
}

csbx_warn() {
  printf 'claude-sandbox: warning: %s\n' "$*" >&2
}

csbx_note() {
  printf 'claude-sandbox: %s\n' "$*" >&2
}
