// What a test file needs of the machine, and the reason it is skipped where that is missing. A missing need is
// never a silent pass: the file's tests are reported as skipped and the reason is printed with the file.
import { accessSync, constants, readFileSync } from "node:fs";
import { delimiter, join, relative } from "node:path";
import { expect } from "vitest";

export type Need =
  /** Tests run as root: they create the test user, act as other users, make cgroups. */
  | "root"
  /** Unprivileged user namespaces, which bubblewrap needs when the launcher runs as an ordinary user. */
  | "userns"
  /** A Chromium the launcher can find (what `claude-sandbox doctor` looks for). */
  | "chromium";

const CHECKS: Record<Need, () => string | undefined> = {
  root: () => {
    const uid = process.geteuid?.();
    return uid === 0 ? undefined : `root (the tests run as uid ${uid})`;
  },
  userns: () => {
    if (sysctl("user/max_user_namespaces") === "0") return "user namespaces (user.max_user_namespaces = 0)";
    if (sysctl("kernel/unprivileged_userns_clone") === "0") {
      return "unprivileged user namespaces (kernel.unprivileged_userns_clone = 0)";
    }
    const apparmor = sysctl("kernel/apparmor_restrict_unprivileged_userns");
    if (apparmor !== undefined && apparmor !== "0") {
      return `unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = ${apparmor})`;
    }
    return undefined;
  },
  chromium: () =>
    ["/usr/bin/chromium", ...onPath("chromium"), ...onPath("chromium-browser")].some(executable)
      ? undefined
      : "Chromium (neither /usr/bin/chromium nor chromium or chromium-browser on PATH)",
};

// CLAUDE_SANDBOX_TEST_WITHOUT=root,chromium runs the suite as a machine without those would: the way to see
// which files skip, and that they say why.
const PRETEND_MISSING = new Set((process.env.CLAUDE_SANDBOX_TEST_WITHOUT ?? "").split(",").filter(Boolean));

const printed = new Set<string>();

/**
 * Why this machine cannot run tests that need `needs`, or false: for `describe.skipIf(requires(…))`. A reason is
 * printed once, so the skip is declared in the run's output and not only counted.
 */
export function requires(...needs: Need[]): string | false {
  const missing = needs
    .map((need) => (PRETEND_MISSING.has(need) ? `${need} (CLAUDE_SANDBOX_TEST_WITHOUT)` : CHECKS[need]()))
    .filter((reason) => reason !== undefined);
  if (missing.length === 0) return false;
  const reason = `needs ${missing.join(" and ")}`;
  const file = relative(process.cwd(), expect.getState().testPath ?? "this file");
  if (!printed.has(file)) {
    printed.add(file);
    process.stderr.write(`skipped ${file}: ${reason}\n`);
  }
  return reason;
}

function sysctl(name: string): string | undefined {
  try {
    return readFileSync(join("/proc/sys", name), "utf8").trim();
  } catch {
    return undefined;
  }
}

function onPath(command: string): string[] {
  return (process.env.PATH ?? "").split(delimiter).map((dir) => join(dir, command));
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
