# shellcheck shell=bash
# A small seccomp filter for the sandbox (bwrap --seccomp). It matters for sandboxes started by root:
# their uid 0 is the host's uid 0 on every file they create, so a setuid/setgid bit set inside would
# become a setuid-root program on the host. The filter refuses to create or chmod files with those
# bits, and closes the ways around it: the i386 and x32 syscall ABIs, openat2 (its mode sits in a
# struct seccomp cannot read) and io_uring (its operations bypass seccomp). It also refuses TIOCSTI
# and TIOCLINUX (typing into a terminal) as a second line behind --new-session, which shells joined
# with --enter get from setsid only. Everything else is allowed; callers of openat2/io_uring fall back
# to the plain syscalls on ENOSYS.
#
# Written once as raw BPF with printf (bash strings cannot hold NUL bytes, printf output can) and
# cached in the state root; rebuilt when this file is newer than the cache (csbx_seccomp_file in
# mounts.sh, which sources this file only then). x86_64 only: elsewhere the sandbox runs without it
# (doctor says so).

# csbx_bpf CODE JT JF K: appends one struct sock_filter (little-endian u16 code, u8 jt, u8 jf, u32 k).
csbx_bpf() {
  local code=$1 jt=$2 jf=$3 k=$4 ins
  printf -v ins '\\x%02x\\x%02x\\x%02x\\x%02x\\x%02x\\x%02x\\x%02x\\x%02x' \
    $((code & 255)) $((code >> 8)) "$jt" "$jf" \
    $((k & 255)) $(((k >> 8) & 255)) $(((k >> 16) & 255)) $(((k >> 24) & 255))
  csbx_bpf_prog+=$ins
}

# Jump offsets count from the next instruction; the numbers in the comments are instruction indexes.
csbx_seccomp_program() {
  local ld=0x20 jeq=0x15 jset=0x45 ret=0x06
  local allow=0x7fff0000 eperm=$((0x00050000 | 1)) enosys=$((0x00050000 | 38)) suid=$((8#6000))
  csbx_bpf_prog=''
  csbx_bpf $ld 0 0 4             #  0 A = arch
  csbx_bpf $jeq 1 0 0xc000003e   #  1 x86_64 -> 3
  csbx_bpf $ret 0 0 $enosys      #  2 another ABI (i386 through int 0x80)
  csbx_bpf $ld 0 0 0             #  3 A = syscall number
  csbx_bpf $jset 0 1 0x40000000  #  4 x32 ABI -> 5, else 6
  csbx_bpf $ret 0 0 $enosys      #  5
  csbx_bpf $jeq 13 0 16          #  6 ioctl(fd, cmd)                 -> 20
  csbx_bpf $jeq 16 0 90          #  7 chmod(path, mode)              -> 24 (mode = arg1)
  csbx_bpf $jeq 15 0 91          #  8 fchmod(fd, mode)               -> 24
  csbx_bpf $jeq 14 0 85          #  9 creat(path, mode)              -> 24
  csbx_bpf $jeq 13 0 133         # 10 mknod(path, mode, dev)         -> 24
  csbx_bpf $jeq 14 0 268         # 11 fchmodat(dir, path, mode)      -> 26 (mode = arg2)
  csbx_bpf $jeq 13 0 452         # 12 fchmodat2(dir, path, mode, f)  -> 26
  csbx_bpf $jeq 12 0 2           # 13 open(path, flags, mode)        -> 26
  csbx_bpf $jeq 11 0 259         # 14 mknodat(dir, path, mode, dev)  -> 26
  csbx_bpf $jeq 12 0 257         # 15 openat(dir, path, flags, mode) -> 28 (mode = arg3)
  csbx_bpf $jeq 2 0 437          # 16 openat2                        -> 19
  csbx_bpf $jeq 1 0 425          # 17 io_uring_setup                 -> 19
  csbx_bpf $ret 0 0 $allow       # 18 any other syscall
  csbx_bpf $ret 0 0 $enosys      # 19
  # ioctl: the kernel reads cmd as a 32-bit int, so the low half of arg1 is exactly what it acts on.
  csbx_bpf $ld 0 0 24            # 20 A = low 32 bits of arg1 (cmd)
  csbx_bpf $jeq 8 0 0x5412       # 21 TIOCSTI: push input into a terminal -> 30
  csbx_bpf $jeq 7 0 0x541c       # 22 TIOCLINUX: console selection/paste  -> 30
  csbx_bpf $ret 0 0 $allow       # 23
  csbx_bpf $ld 0 0 24            # 24 A = low 32 bits of arg1
  csbx_bpf $jset 4 5 $suid       # 25 S_ISUID|S_ISGID -> 30, else 31
  csbx_bpf $ld 0 0 32            # 26 A = low 32 bits of arg2
  csbx_bpf $jset 2 3 $suid       # 27 -> 30 / 31
  csbx_bpf $ld 0 0 40            # 28 A = low 32 bits of arg3
  csbx_bpf $jset 0 1 $suid       # 29 -> 30 / 31
  csbx_bpf $ret 0 0 $eperm       # 30
  csbx_bpf $ret 0 0 $allow       # 31
}
