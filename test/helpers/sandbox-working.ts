// Whether a sandbox the manager calls running really works, as a user would check: its launcher printed its
// display, its Xvfb and tmux session exist, and a line typed into its pane comes back in its log.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect } from "vitest";
import { Backend, type Sandbox, type SandboxClient, SandboxStatus } from "../../client/index.js";
import { processAlive, sessionExists, waitUntil } from "./start-daemon.js";

async function logText(client: SandboxClient, id: string): Promise<string> {
  return Buffer.from((await client.getLogs({ id })).data).toString();
}

/** Creates a sandbox running the fixture launcher and waits until the launcher has printed its display. */
export async function createWorking(
  client: SandboxClient,
  name: string,
  projectDir: string,
): Promise<Sandbox> {
  const { sandbox } = await client.createSandbox({ name, backend: Backend.BUBBLEWRAP, projectDir });
  if (sandbox === undefined) throw new Error("no sandbox in the response");
  await waitUntil(`${name}'s launcher output`, async () =>
    (await logText(client, sandbox.id)).includes("fixture-launcher DISPLAY="),
  );
  return sandbox;
}

/** Fails unless the sandbox is running and answers: launcher on its display, Xvfb and session alive, echo. */
export async function expectWorking(client: SandboxClient, stateDir: string, id: string): Promise<void> {
  const sandbox = (await client.getSandbox({ id })).sandbox;
  expect(sandbox?.status, `sandbox ${id} should be running`).toBe(SandboxStatus.RUNNING);
  expect(processAlive(sandbox?.pidXvfb ?? 0), `sandbox ${id}'s Xvfb`).toBe(true);
  const session = sandbox?.tmuxSession ?? "";
  expect(await sessionExists(stateDir, session), `sandbox ${id}'s session`).toBe(true);
  await waitUntil(`sandbox ${id}'s launcher to print its display`, async () =>
    (await logText(client, id)).includes(`fixture-launcher DISPLAY=:${sandbox?.displayNum} `),
  );
  const ping = `ping-${randomBytes(4).toString("hex")}`;
  await typeLine(stateDir, session, ping).catch(async (error: Error) => {
    const now = (await client.getSandbox({ id })).sandbox;
    throw new Error(
      `typing into ${id}'s pane failed (now ${now?.status}: ${now?.statusReason}): ${error.message}`,
    );
  });
  await waitUntil(`sandbox ${id} to echo ${ping}`, async () =>
    (await logText(client, id)).includes(`fixture-got: ${ping}`),
  );
}

/** Types a line into the session's pane, named exactly (`=name:`), as a user attached with tmux would. */
async function typeLine(stateDir: string, session: string, line: string): Promise<void> {
  const tmux = (...args: string[]) =>
    promisify(execFile)("tmux", ["-S", join(stateDir, "tmux.sock"), ...args]);
  await tmux("send-keys", "-t", `=${session}:`, "-l", line);
  await tmux("send-keys", "-t", `=${session}:`, "Enter");
}
