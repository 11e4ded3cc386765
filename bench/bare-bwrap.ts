/**
 * The bare bubblewrap chain the launch benchmarks compare against: the minimal sandbox of the measured floors
 * (host /usr read-only, merged-/usr links, fresh /proc, /dev and /tmp, every namespace unshared). Append the
 * command to run.
 */
export const BARE_BWRAP = [
  "bwrap",
  "--ro-bind",
  "/usr",
  "/usr",
  "--symlink",
  "usr/lib",
  "/lib",
  "--symlink",
  "usr/lib64",
  "/lib64",
  "--symlink",
  "usr/bin",
  "/bin",
  "--symlink",
  "usr/sbin",
  "/sbin",
  "--proc",
  "/proc",
  "--dev",
  "/dev",
  "--tmpfs",
  "/tmp",
  "--unshare-all",
  "--die-with-parent",
] as const;
