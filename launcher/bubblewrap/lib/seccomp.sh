# shellcheck shell=bash
# A small seccomp filter for the sandbox (bwrap --seccomp). It matters for sandboxes started by root:
# their uid 0 is the host's uid 0 on every file they create, so a setuid/setgid bit set inside would
# become a setuid-root program on the host. The filter refuses to create or chmod files with those
# bits, and closes the ways around it: the i386 and x32 syscall ABIs, openat2 (its mode sits in a
# struct seccomp cannot read) and io_uring (its operations bypass seccomp). It also refuses TIOCSTI
# and TIOCLINUX (typing into a terminal) as a second line behind --new-session, which shells joined
# with --enter get from setsid only, and the kernel keyring (add_key, request_key, keyctl): keyrings are
# not namespaced, and the caller's session keyring, with whatever it holds (Kerberos tickets, disk
# encryption keys), would otherwise be readable and clearable from inside. Everything else is allowed;
# callers of openat2/io_uring fall back to the plain syscalls on ENOSYS, and nothing a sandbox runs
# needs a keyring.
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
  csbx_bpf $jeq 15 0 248         #  6 add_key                        -> 22
  csbx_bpf $jeq 14 0 249         #  7 request_key                    -> 22
  csbx_bpf $jeq 13 0 250         #  8 keyctl                         -> 22
  csbx_bpf $jeq 13 0 16          #  9 ioctl(fd, cmd)                 -> 23
  csbx_bpf $jeq 16 0 90          # 10 chmod(path, mode)              -> 27 (mode = arg1)
  csbx_bpf $jeq 15 0 91          # 11 fchmod(fd, mode)               -> 27
  csbx_bpf $jeq 14 0 85          # 12 creat(path, mode)              -> 27
  csbx_bpf $jeq 13 0 133         # 13 mknod(path, mode, dev)         -> 27
  csbx_bpf $jeq 14 0 268         # 14 fchmodat(dir, path, mode)      -> 29 (mode = arg2)
  csbx_bpf $jeq 13 0 452         # 15 fchmodat2(dir, path, mode, f)  -> 29
  csbx_bpf $jeq 12 0 2           # 16 open(path, flags, mode)        -> 29
  csbx_bpf $jeq 11 0 259         # 17 mknodat(dir, path, mode, dev)  -> 29
  csbx_bpf $jeq 12 0 257         # 18 openat(dir, path, flags, mode) -> 31 (mode = arg3)
  csbx_bpf $jeq 2 0 437          # 19 openat2                        -> 22
  csbx_bpf $jeq 1 0 425          # 20 io_uring_setup                 -> 22
  csbx_bpf $ret 0 0 $allow       # 21 any other syscall
  csbx_bpf $ret 0 0 $enosys      # 22
  # ioctl: the kernel reads cmd as a 32-bit int, so the low half of arg1 is exactly what it acts on.
  csbx_bpf $ld 0 0 24            # 23 A = low 32 bits of arg1 (cmd)
  csbx_bpf $jeq 8 0 0x5412       # 24 TIOCSTI: push input into a terminal -> 33
  csbx_bpf $jeq 7 0 0x541c       # 25 TIOCLINUX: console selection/paste  -> 33
  csbx_bpf $ret 0 0 $allow       # 26
  csbx_bpf $ld 0 0 24            # 27 A = low 32 bits of arg1
  csbx_bpf $jset 4 5 $suid       # 28 S_ISUID|S_ISGID -> 33, else 34
  csbx_bpf $ld 0 0 32            # 29 A = low 32 bits of arg2
  csbx_bpf $jset 2 3 $suid       # 30 -> 33 / 34
  csbx_bpf $ld 0 0 40            # 31 A = low 32 bits of arg3
  csbx_bpf $jset 0 1 $suid       # 32 -> 33 / 34
  csbx_bpf $ret 0 0 $eperm       # 33
  csbx_bpf $ret 0 0 $allow       # 34
}
