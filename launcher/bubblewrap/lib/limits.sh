# shellcheck shell=bash
# Resource limits of a sandbox: memory, swap, processes, CPU weight (cgroup.sh applies them) and the size
# of every tmpfs the sandbox gets (mounts.sh). Without them one agent can take the host down: a fork bomb
# fills the pid table, a memory hog wakes the OOM killer for the whole host, and each tmpfs may grow to
# half the RAM. Values come from the flags (--memory, --swap, --pids, --cpu-weight, --tmpfs-size), checked
# as they are parsed; what is not given gets a default relative to this host (csbx_limits_resolve).
# No fork: sizes are parsed with bash arithmetic, the RAM read from /proc/meminfo.

# csbx_parse_size FLAG VALUE: sets csbx_size to VALUE in bytes, or exits 2 naming FLAG. A size is a
# number of bytes, or a number with K, M, G or T (powers of 1024, an optional "iB" or "B" after it).
csbx_parse_size() {
  local flag=$1 v=$2 re='^([0-9]{1,16})([KkMmGgTt]?)(i?[Bb])?$' n shift=0
  [[ $v =~ $re ]] ||
    csbx_die 2 "$flag '$v' is not a size; give bytes or a number with K, M, G or T (powers of 1024), e.g. $flag 512M"
  n=$((10#${BASH_REMATCH[1]}))
  case ${BASH_REMATCH[2]} in
    [Kk]) shift=10 ;;
    [Mm]) shift=20 ;;
    [Gg]) shift=30 ;;
    [Tt]) shift=40 ;;
  esac
  # Past 1 PiB it is a typo, and bash's 64-bit arithmetic would overflow soon after.
  ((n <= (1 << 50) >> shift)) || csbx_die 2 "$flag '$v' is too large; the most is 1P"
  csbx_size=$((n << shift))
}

# csbx_parse_count FLAG VALUE MIN MAX: sets csbx_count, or exits 2 naming FLAG.
csbx_parse_count() {
  local flag=$1 v=$2
  [[ $v =~ ^[0-9]{1,9}$ ]] || csbx_die 2 "$flag '$v' is not a whole number; give one from $3 to $4"
  csbx_count=$((10#$v))
  ((csbx_count >= $3 && csbx_count <= $4)) || csbx_die 2 "$flag $v is out of range; give one from $3 to $4"
}

# Smallest accepted values: below them the launch itself (bash, bwrap, pasta) cannot run, which would
# look like a broken sandbox rather than a limit.
csbx_min_memory=$((32 << 20)) csbx_min_pids=16 csbx_min_tmpfs=$((1 << 20))

# csbx_limit_flag FLAG VALUE: takes one limit flag's value (from csbx_parse_args). Sets lim_* and, for
# the cgroup limits, opt_limits=1 (a --new launch makes a cgroup only when one is asked for, see
# launch.sh); opt_limit_flags=1 for any.
csbx_limit_flag() {
  opt_limit_flags=1
  case $1 in
    --memory)
      csbx_parse_size "$1" "$2"
      ((csbx_size >= csbx_min_memory)) || csbx_die 2 "--memory $2 is too small; give at least 32M"
      lim_memory=$csbx_size opt_limits=1
      ;;
    --swap)
      csbx_parse_size "$1" "$2"
      lim_swap=$csbx_size opt_limits=1
      ;;
    --pids)
      csbx_parse_count "$1" "$2" "$csbx_min_pids" 4194304
      lim_pids=$csbx_count opt_limits=1
      ;;
    --cpu-weight)
      # cgroup v2's range; v1's cpu.shares get the same share of the default (100 → 1024).
      csbx_parse_count "$1" "$2" 1 10000
      lim_cpu_weight=$csbx_count opt_limits=1
      ;;
    --tmpfs-size)
      csbx_parse_size "$1" "$2"
      ((csbx_size >= csbx_min_tmpfs)) || csbx_die 2 "--tmpfs-size $2 is too small; give at least 1M"
      lim_tmpfs=$csbx_size
      ;;
  esac
}

# Fills in the defaults for the limits no flag set, relative to this host's RAM:
#   memory  min(8 GiB, RAM/2): an agent with its builds and a browser fits, and one sandbox alone never
#           pushes the host into its own OOM killer.
#   swap    0: a sandbox at its memory limit is OOM-killed rather than dragging the host through swap.
#   pids    4096: far above what an agent, its builds and a browser use (a few hundred tasks, threads
#           included), far below the host's pid_max, so a fork bomb stops there.
#   cpu     weight 100, cgroup v2's default: under contention a sandbox gets the share of any other
#           top-level group, however many processes it runs.
#   tmpfs   min(1 GiB, RAM/8) each (/tmp, /dev/shm, /run, the home, ...): several of them full together
#           still leave most of the RAM, and with the memory limit applied what they hold counts
#           against it as well.
csbx_limits_resolve() {
  local kb=0 ram
  { read -r _ kb _ </proc/meminfo; } 2>/dev/null || kb=0
  [[ $kb =~ ^[0-9]+$ ]] || kb=0
  ram=$((kb << 10))
  # Without /proc/meminfo: as on a 16 GiB host.
  ((ram > 0)) || ram=$((16 << 30))
  local mem=$((ram / 2)) tmp=$((ram / 8))
  ((mem <= 8 << 30)) || mem=$((8 << 30))
  ((tmp <= 1 << 30)) || tmp=$((1 << 30))
  ((tmp >= csbx_min_tmpfs)) || tmp=$csbx_min_tmpfs
  : "${lim_memory:=$mem}" "${lim_swap:=0}" "${lim_pids:=4096}" "${lim_cpu_weight:=100}" "${lim_tmpfs:=$tmp}"
}
