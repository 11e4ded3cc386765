# shellcheck shell=bash
# A small seccomp filter for the sandbox (bwrap --seccomp), also applied to every shell that joins it.
# It matters most for sandboxes started by root: their uid 0 is the host's uid 0 on every file they
# create, so a setuid/setgid bit set inside would become a setuid-root program on the host. The filter
# refuses to create or chmod files with those bits, and closes the ways around it: the i386 and x32
# syscall ABIs, openat2 (its mode sits in a struct seccomp cannot read) and io_uring (its operations
# bypass seccomp). It also refuses:
#   - TIOCSTI and TIOCLINUX (typing into a terminal), a second line behind the new session or the pty of
#     their own that sandboxes and joined shells get;
#   - the kernel keyring (add_key, request_key, keyctl): keyrings are not namespaced, and the caller's
#     session keyring, with whatever it holds (Kerberos tickets, disk encryption keys), would otherwise
#     be readable and clearable from inside;
#   - userfaultfd, which lets a process stall the kernel at a page fault of its choosing, the usual
#     way to widen a kernel race into an exploit;
#   - kcmp, which compares kernel objects (files, memory) of two processes, a kernel-address oracle;
#   - personality() other than the plain Linux ones and the query (Docker's default list): the others
#     include ADDR_NO_RANDOMIZE, which turns off address space randomisation for what the process runs.
# Everything else is allowed. Callers of openat2/io_uring fall back to the plain syscalls on ENOSYS;
# nothing a sandbox runs needs a keyring, userfaultfd (Chromium, Node, Python and the JVMs run without)
# or kcmp (a checkpoint/restore tool's); gdb says it cannot turn off randomisation and goes on.
# ptrace stays allowed: it reaches only processes of the sandbox's own (same user namespace, no
# capabilities anywhere), and the agent's strace and gdb need it.
#
# Written once as raw BPF with printf (bash strings cannot hold NUL bytes, printf output can) and
# cached in the state root; rebuilt when this file is newer than the cache (csbx_seccomp_file in
# mounts.sh, which sources this file only then). x86_64 only: elsewhere the sandbox runs without it
# (doctor says so).

# csbx_bpf CODE JT JF K: appends one struct sock_filter (little-endian u16 code, u8 jt, u8 jf, u32 k).
# JT and JF are labels (or 0, the next instruction); csbx_bpf_link turns them into offsets.
csbx_bpf() {
  csbx_bpf_ins+=("$1 $2 $3 $4")
}

# csbx_bpf_label NAME: NAME is the index of the next instruction.
csbx_bpf_label() {
  csbx_bpf_at[$1]=${#csbx_bpf_ins[@]}
}

# Encodes the instructions into csbx_bpf_prog, jump labels resolved (offsets count from the next
# instruction and must fit a byte).
csbx_bpf_link() {
  local i code jt jf k t f ins
  csbx_bpf_prog=''
  for ((i = 0; i < ${#csbx_bpf_ins[@]}; i++)); do
    read -r code jt jf k <<<"${csbx_bpf_ins[i]}"
    t=0 f=0
    [[ $jt == 0 ]] || t=$((csbx_bpf_at[$jt] - i - 1))
    [[ $jf == 0 ]] || f=$((csbx_bpf_at[$jf] - i - 1))
    ((t >= 0 && t < 256 && f >= 0 && f < 256)) || return 1
    printf -v ins '\\x%02x\\x%02x\\x%02x\\x%02x\\x%02x\\x%02x\\x%02x\\x%02x' \
      $((code & 255)) $((code >> 8)) "$t" "$f" \
      $((k & 255)) $(((k >> 8) & 255)) $(((k >> 16) & 255)) $(((k >> 24) & 255))
    csbx_bpf_prog+=$ins
  done
}

csbx_seccomp_program() {
  local ld=0x20 jeq=0x15 jset=0x45 ret=0x06
  local allow=0x7fff0000 eperm=$((0x00050000 | 1)) enosys=$((0x00050000 | 38)) suid=$((8#6000))
  # Offsets into struct seccomp_data: nr, arch, then the low 32 bits of each (64-bit) argument.
  local nr=0 arch=4 arg0=16 arg1=24 arg2=32 arg3=40
  csbx_bpf_ins=()
  local -A csbx_bpf_at=()
  csbx_bpf $ld 0 0 $arch
  csbx_bpf $jeq native 0 0xc000003e # x86_64
  csbx_bpf $ret 0 0 $enosys         # another ABI (i386 through int 0x80)
  csbx_bpf_label native
  csbx_bpf $ld 0 0 $nr
  csbx_bpf $jset enosys 0 0x40000000 # the x32 ABI
  csbx_bpf $jeq enosys 0 248         # add_key
  csbx_bpf $jeq enosys 0 249         # request_key
  csbx_bpf $jeq enosys 0 250         # keyctl
  csbx_bpf $jeq ioctl 0 16           # ioctl(fd, cmd)
  csbx_bpf $jeq mode1 0 90           # chmod(path, mode)
  csbx_bpf $jeq mode1 0 91           # fchmod(fd, mode)
  csbx_bpf $jeq mode1 0 85           # creat(path, mode)
  csbx_bpf $jeq mode1 0 133          # mknod(path, mode, dev)
  csbx_bpf $jeq mode2 0 268          # fchmodat(dir, path, mode)
  csbx_bpf $jeq mode2 0 452          # fchmodat2(dir, path, mode, flags)
  csbx_bpf $jeq mode2 0 2            # open(path, flags, mode)
  csbx_bpf $jeq mode2 0 259          # mknodat(dir, path, mode, dev)
  csbx_bpf $jeq mode3 0 257          # openat(dir, path, flags, mode)
  csbx_bpf $jeq enosys 0 437         # openat2
  csbx_bpf $jeq enosys 0 425         # io_uring_setup
  csbx_bpf $jeq eperm 0 323          # userfaultfd
  csbx_bpf $jeq eperm 0 312          # kcmp
  csbx_bpf $jeq persona 0 135        # personality(persona)
  csbx_bpf $ret 0 0 $allow
  csbx_bpf_label enosys
  csbx_bpf $ret 0 0 $enosys
  # ioctl: the kernel reads cmd as a 32-bit int, so the low half of arg1 is exactly what it acts on.
  csbx_bpf_label ioctl
  csbx_bpf $ld 0 0 $arg1
  csbx_bpf $jeq eperm 0 0x5412 # TIOCSTI: push input into a terminal
  csbx_bpf $jeq eperm 0 0x541c # TIOCLINUX: console selection/paste
  csbx_bpf $ret 0 0 $allow
  # The mode argument, tested for S_ISUID|S_ISGID.
  csbx_bpf_label mode1
  csbx_bpf $ld 0 0 $arg1
  csbx_bpf $jset eperm allow $suid
  csbx_bpf_label mode2
  csbx_bpf $ld 0 0 $arg2
  csbx_bpf $jset eperm allow $suid
  csbx_bpf_label mode3
  csbx_bpf $ld 0 0 $arg3
  csbx_bpf $jset eperm allow $suid
  # personality takes an unsigned int: PER_LINUX, PER_LINUX32, UNAME26 and both, or 0xffffffff (query).
  csbx_bpf_label persona
  csbx_bpf $ld 0 0 $arg0
  csbx_bpf $jeq allow 0 0
  csbx_bpf $jeq allow 0 0x0008
  csbx_bpf $jeq allow 0 0x20000
  csbx_bpf $jeq allow 0 0x20008
  csbx_bpf $jeq allow 0 0xffffffff
  csbx_bpf_label eperm
  csbx_bpf $ret 0 0 $eperm
  csbx_bpf_label allow
  csbx_bpf $ret 0 0 $allow
  csbx_bpf_link
}
