import { describe, expect, test } from "vitest";
import { requires } from "../helpers/requires.js";
import { useSandboxFixture } from "../helpers/sandbox-home.js";
import { describeRun, runLauncher } from "../helpers/sandbox-launcher.js";
import { ensureTestUser, ROOT, type SandboxUser } from "../helpers/sandbox-user.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root", "userns");

// Syscalls that serve kernel exploits and nothing a sandbox runs: userfaultfd stalls the kernel at a page fault
// of the caller's choosing (the usual way to win a kernel race), kcmp compares kernel objects of two processes
// (an address oracle), and personality(ADDR_NO_RANDOMIZE) turns off address randomisation for what the process
// runs next. The seccomp filter refuses them; the plain personas and the query still work.

const users: [string, () => SandboxUser][] = [
  ["root", () => ROOT],
  ["unprivileged user", ensureTestUser],
];

const fixtures = useSandboxFixture();

// Prints name=result for each attempt: the syscall's return value, or -errno.
const PROBE = `
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def call(*args):
    r = libc.syscall(*[ctypes.c_long(a) for a in args])
    return r if r >= 0 else -ctypes.get_errno()
print("userfaultfd=%d" % call(323, 0))
print("kcmp=%d" % call(312, os.getpid(), os.getppid(), 0, 0, 0))
print("norandom=%d" % call(135, 0x0040000))
print("query=%d" % call(135, 0xffffffff))
print("linux=%d" % call(135, 0))
`;

describe.skipIf(missing).each(users)("exploit helpers, as %s", (_label, user) => {
  test("userfaultfd, kcmp and personality(ADDR_NO_RANDOMIZE) are refused; ASLR stays on", async () => {
    const fx = await fixtures.create(user());
    const r = await runLauncher(fx, [
      "--new",
      "--no-network",
      "--shell",
      fx.project,
      "--",
      "-c",
      'python3 -c "$1"; setarch -R true 2>/dev/null; echo setarch=$?',
      "probe",
      PROBE,
    ]);
    const out = String(r.stdout);
    const value = (name: string) => Number(new RegExp(`^${name}=(-?\\d+)$`, "m").exec(out)?.[1]);
    const EPERM = -1;
    expect.soft(value("userfaultfd"), describeRun(r)).toBe(EPERM);
    expect.soft(value("kcmp"), describeRun(r)).toBe(EPERM);
    expect.soft(value("norandom"), describeRun(r)).toBe(EPERM);
    expect.soft(value("setarch"), "setarch -R turned randomisation off").not.toBe(0);
    // What programs do ask for still works.
    expect.soft(value("query"), describeRun(r)).toBeGreaterThanOrEqual(0);
    expect.soft(value("linux"), describeRun(r)).toBeGreaterThanOrEqual(0);
  });
});
