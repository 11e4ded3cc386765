// A sandbox running test/fixtures/bin-lines (numbered lines, coloured lines, ticks and floods on demand), on a
// daemon that serves the web gateway, reached through a loopback tunnel as a browser through ssh would.
import { join } from "node:path";
import { Backend } from "../../client/index.js";
import { REPO_ROOT } from "./build.js";
import type { DaemonFixture } from "./daemon-fixture.js";
import { type Daemon, FIXTURE_BIN, typeIntoPane, waitUntil } from "./start-daemon.js";
import { startWebDaemon, type WebDaemon } from "./web-daemon.js";

export const LINES_BIN = join(REPO_ROOT, "test/fixtures/bin-lines");

/** The daemon's environment for these tests: the lines launcher first on PATH, displays from `displayBase`. */
export function linesEnv(displayBase: number): Record<string, string> {
  return {
    PATH: `${LINES_BIN}:${FIXTURE_BIN}:${process.env.PATH ?? "/usr/bin:/bin"}`,
    MANAGER_DISPLAY_BASE: String(displayBase),
  };
}

export interface LinesSandbox {
  id: string;
  session: string;
  /** Types a fixture command and waits until the log shows it finished ("fixture-done <command>"). */
  run(command: string, timeoutMs?: number): Promise<void>;
  /** Types a fixture command and returns at once. */
  type(command: string): Promise<void>;
  /** The log's bytes from `offset` to its end now, through GetLogs. */
  log(offset?: number): Promise<Buffer>;
}

export function startLinesDaemon(fx: DaemonFixture, displayBase: number): Promise<WebDaemon> {
  return startWebDaemon(fx, linesEnv(displayBase));
}

export async function createLinesSandbox(
  daemon: Daemon,
  projectDir: string,
  name = "lines",
): Promise<LinesSandbox> {
  const { client } = daemon;
  const { sandbox } = await client.createSandbox({ name, backend: Backend.BUBBLEWRAP, projectDir });
  if (sandbox === undefined) throw new Error("no sandbox in the response");
  const { id } = sandbox;
  const session = sandbox.tmuxSession ?? "";
  const log = async (offset = 0): Promise<Buffer> => {
    const parts: Buffer[] = [];
    let at = offset;
    for (;;) {
      const range = await client.getLogs({ id, offset: BigInt(at), limit: 4 * 1024 * 1024 });
      parts.push(Buffer.from(range.data));
      at += range.data.length;
      if (range.data.length === 0 || BigInt(at) >= range.size) return Buffer.concat(parts);
    }
  };
  const tail = async () => {
    const { size } = await client.getLogs({ id, limit: 1 });
    return (await log(Math.max(0, Number(size) - 512))).toString("latin1");
  };
  await waitUntil("the fixture's first line", async () => (await tail()).includes("fixture-lines ready"));
  return {
    id,
    session,
    log,
    type: (command) => typeIntoPane(daemon.stateDir, session, command),
    async run(command, timeoutMs = 20_000) {
      await typeIntoPane(daemon.stateDir, session, command);
      await waitUntil(
        `the fixture to finish ${JSON.stringify(command)}`,
        async () => (await tail()).includes(`fixture-done ${command}\r\n`),
        timeoutMs,
        50,
      );
    },
  };
}
