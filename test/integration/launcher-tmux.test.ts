import path from "node:path";
import { execa } from "execa";
import { describe, expect, test } from "vitest";
import {
  describeRun,
  HOST_PATH,
  IDENTITIES,
  installAgent,
  type LauncherFixture,
  launch,
  shellOut,
  useLauncherFixture,
} from "../helpers/launcher-harness.js";
import { requires } from "../helpers/requires.js";
import { LAUNCHER } from "../helpers/sandbox-launcher.js";
import { userCommand } from "../helpers/sandbox-user.js";
import { holdsWithin } from "../helpers/wait.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root", "userns");

// `claude-sandbox --tmux` from a real terminal: the terminal here is a pane of a tmux server the test owns
// (standing in for the user's terminal emulator, which can be resized). The agent's tmux server is inside the
// sandbox, and so must be the client attached to it.

let terminal: string | undefined;
const fixtures = useLauncherFixture({
  beforeCleanup: async (fx) => {
    if (terminal) {
      const [file, args] = userCommand(fx.user, "tmux", ["-S", terminal, "kill-server"]);
      await execa(file, args, { reject: false });
    }
    terminal = undefined;
    await launch(fx, ["--stop", fx.project]);
  },
});

const SESSION = "sandbox-project";

/** The agent session's clients, as the agent's tmux server inside sees them: "pid WxH pidns comm" lines. */
async function clientsInside(f: LauncherFixture): Promise<string[]> {
  const out = await shellOut(
    f,
    ["--enter"],
    `tmux -S "$CLAUDE_SANDBOX_STATE_DIR/tmux.sock" list-clients -t =${SESSION} -F '#{client_pid} #{client_width}x#{client_height}' |
     while read -r pid size; do echo "$pid $size $(readlink /proc/$pid/ns/pid 2>/dev/null || echo none) $(cat /proc/$pid/comm 2>/dev/null || echo gone)"; done`,
  );
  return out.split("\n").filter((l) => l.trim() !== "");
}

/** The pid namespace (as "pid:[inode]") of the host process that is `pid` inside the namespace `pidns`. */
async function hostPidnsOf(pid: number, pidns: string): Promise<string | undefined> {
  const { readdir, readFile, readlink } = await import("node:fs/promises");
  for (const entry of (await readdir("/proc")).filter((e) => /^\d+$/.test(e))) {
    const status = await readFile(`/proc/${entry}/status`, "utf8").catch(() => "");
    const nspid = /^NSpid:\s+(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/);
    if (nspid?.at(-1) !== String(pid)) continue;
    const ns = await readlink(`/proc/${entry}/ns/pid`).catch(() => undefined);
    if (ns === pidns) return ns;
  }
  return undefined;
}

describe.skipIf(missing).each(IDENTITIES)("--tmux from a terminal, as %s", (_name, user) => {
  for (const network of [false, true]) {
    test(`attaches with a client inside the sandbox that follows terminal resizes${network ? "" : " (--no-network)"}`, async () => {
      const fx = await fixtures.create(user());
      const f = fx;
      await installAgent(f, path.join(f.state, "local", "bin", "claude"));
      // In the user's home: the fixture root is not writable for the unprivileged user.
      terminal = path.join(f.home, "terminal.sock");
      const env = [
        `PATH=${HOST_PATH}`,
        `HOME=${f.home}`,
        `XDG_STATE_HOME=${f.stateHome}`,
        `USER=${f.user.name}`,
        "LANG=C.UTF-8",
        "TERM=xterm-256color",
      ];
      const flags = network ? ["--tmux"] : ["--no-network", "--tmux"];
      const [file, args] = userCommand(f.user, "tmux", [
        "-S",
        terminal,
        "-f",
        "/dev/null",
        "new-session",
        "-d",
        "-x",
        "80",
        "-y",
        "24",
        "-c",
        f.project,
        "--",
        "env",
        "-i",
        ...env,
        LAUNCHER,
        ...flags,
        f.project,
        "--",
        "--sleep",
        "300",
      ]);
      const started = await execa(file, args, { reject: false });
      expect(started.exitCode, describeRun(started)).toBe(0);

      const pidns = await holdsWithin(async () => {
        const r = await launch(f, ["--enter", f.project, "--", "-c", "readlink /proc/self/ns/pid"]);
        return r.exitCode === 0;
      }, 20_000);
      expect(pidns, "the sandbox never became joinable").toBe(true);
      const sandboxPidns = await shellOut(f, ["--enter"], "readlink /proc/self/ns/pid");

      let clients: string[] = [];
      const attached = await holdsWithin(async () => {
        clients = await clientsInside(f).catch(() => []);
        return clients.length > 0;
      }, 20_000);
      expect(attached, "no client attached to the agent's session").toBe(true);
      // The client's pid, as the server inside sees it, is a tmux process in the sandbox's pid namespace (looked
      // up from the host).
      const [pid, size, , ...comm] = clients[0]?.split(" ") ?? [];
      expect(Number(pid)).toBeGreaterThan(0);
      expect(comm.join(" ")).toMatch(/^tmux/);
      expect(await hostPidnsOf(Number(pid), sandboxPidns)).toBe(sandboxPidns);
      expect(size).toMatch(/^80x\d+$/);

      const [rf, ra] = userCommand(f.user, "tmux", [
        "-S",
        terminal,
        "resize-window",
        "-x",
        "132",
        "-y",
        "40",
      ]);
      const resized = await execa(rf, ra, { reject: false });
      expect(resized.exitCode, describeRun(resized)).toBe(0);
      const followed = await holdsWithin(
        async () => (await clientsInside(f).catch(() => [])).some((l) => / 132x\d+ /.test(l)),
        10_000,
      );
      expect(followed, `the client inside kept its size: ${(await clientsInside(f)).join("; ")}`).toBe(true);
    });
  }
});
