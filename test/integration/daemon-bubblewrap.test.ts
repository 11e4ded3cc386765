// The daemon with the real bubblewrap launcher (launcher/bubblewrap/claude-sandbox) in shell mode: the shell
// runs inside the sandbox on the sandbox's display, the network flag reaches it, what is typed into the pane
// reaches it, its output streams back, and stop leaves no process behind.
import { mkdir, mkdtemp, realpath } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Backend, type SandboxClient, SandboxStatus, type TailLogsResponse } from "../../client/index.js";
import { REPO_ROOT } from "../helpers/build.js";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import { cleanupStateDir, type Daemon, processesReferring, typeIntoPane } from "../helpers/start-daemon.js";
import { collect } from "../helpers/stream-collector.js";
import { waitUntil } from "../helpers/wait.js";

const LAUNCHER = join(REPO_ROOT, "launcher/bubblewrap/claude-sandbox");
const REPORT = [
  'echo "inside-net: $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | sort | tr "\\n" " ")"',
  'echo "inside-pwd: $PWD"',
  'echo "inside-display: $DISPLAY"',
];

const fx = useDaemonFixture();
let workDir: string;
let projectCount = 0;

beforeAll(async () => {
  workDir = await realpath(await mkdtemp(join(tmpdir(), "csm-bw-")));
});

afterAll(async () => {
  await cleanupStateDir(workDir);
});

async function startWithLauncher(): Promise<{ daemon: Daemon; projectDir: string }> {
  const daemon = await fx.start({
    env: { MANAGER_LAUNCHER_BUBBLEWRAP: LAUNCHER, XDG_STATE_HOME: join(workDir, "launcher-state") },
  });
  const projectDir = join(workDir, `project-${++projectCount}`);
  await mkdir(projectDir);
  return { daemon, projectDir };
}

async function logsOf(client: SandboxClient, id: string): Promise<string> {
  return Buffer.from((await client.getLogs({ id })).data).toString();
}

async function waitForLogs(client: SandboxClient, id: string, marker: string): Promise<string> {
  let logs = "";
  await waitUntil(
    `"${marker}" in the sandbox's log`,
    async () => {
      logs = await logsOf(client, id);
      return logs.includes(marker);
    },
    20_000,
  );
  return logs;
}

describe("the daemon with the real bubblewrap launcher", () => {
  it.each([false, true])(
    "network=%s reaches the sandbox, which runs on its display; stop ends everything",
    async (network) => {
      const { daemon, projectDir } = await startWithLauncher();
      const { client } = daemon;
      const { sandbox } = await client.createSandbox({
        name: "real-bwrap",
        backend: Backend.BUBBLEWRAP,
        projectDir,
        network,
        shell: true,
        agentArgs: ["-c", [...REPORT, "exec sleep 600"].join("; ")],
      });
      if (sandbox === undefined) throw new Error("no sandbox in the response");
      const { id } = sandbox;
      const logs = await waitForLogs(client, id, "inside-display:");
      expect(logs).toContain(`inside-pwd: ${projectDir}\r\n`);
      expect(logs).toContain(`inside-display: :${sandbox.displayNum}\r\n`);
      const interfaces = /inside-net: ([^\r\n]*)\r\n/.exec(logs)?.[1]?.trim().split(" ");
      // Without network only loopback exists; with it, pasta's interface as well.
      if (network) expect(interfaces?.length).toBeGreaterThan(1);
      else expect(interfaces).toEqual(["lo"]);
      expect((await client.getSandbox({ id })).sandbox?.status).toBe(SandboxStatus.RUNNING);

      expect(await processesReferring(projectDir)).not.toEqual([]);
      expect((await client.stopSandbox({ id })).sandbox?.status).toBe(SandboxStatus.STOPPED);
      // bwrap, the shell, Xvfb and the tmux session are all gone: nothing names the project or state any more.
      await waitUntil(
        "every sandbox process to exit",
        async () => (await processesReferring(projectDir)).length === 0,
      );
      expect(await processesReferring(join(daemon.stateDir, "run"))).toEqual([]);
      await client.deleteSandbox({ id });
    },
  );

  it.each([false, true])(
    "network=%s: what is typed into the pane reaches the sandboxed shell, whose answer streams back",
    async (network) => {
      const { daemon, projectDir } = await startWithLauncher();
      const { client } = daemon;
      const { sandbox } = await client.createSandbox({
        name: "real-bwrap-input",
        backend: Backend.BUBBLEWRAP,
        projectDir,
        network,
        shell: true,
        agentArgs: [
          "-c",
          [
            'echo "inside-stdin: $(readlink /proc/self/fd/0)"',
            "echo inside-ready",
            'while IFS= read -r line; do echo "inside-got: $line"; done',
            "echo inside-eof",
          ].join("; "),
        ],
      });
      if (sandbox === undefined) throw new Error("no sandbox in the response");
      const { id } = sandbox;
      const logs = await waitForLogs(client, id, "inside-ready");
      // The agent is interactive: its stdin must be the pane's terminal, not /dev/null.
      expect(logs).toMatch(/inside-stdin: \/dev\/pts\/\d+\r\n/);

      const tail = collect<TailLogsResponse>(
        client.tailLogs({ id, backlogLines: 5 }, { signal: fx.abortLater() }),
      );
      await typeIntoPane(daemon.stateDir, sandbox.tmuxSession ?? "", "ping from outside");
      await tail.waitFor("the sandboxed shell's answer", () =>
        tail.items.some(
          (m) =>
            m.event.case === "chunk" &&
            Buffer.from(m.event.value.data).toString().includes("inside-got: ping from outside"),
        ),
      );
      await client.deleteSandbox({ id });
    },
  );
});
