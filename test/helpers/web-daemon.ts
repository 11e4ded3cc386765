// A daemon serving the web gateway, reached through a loopback tunnel as a browser through `ssh -L` would, and
// sandboxes made on it for a page to show.
import { Backend, type Sandbox } from "../../client/index.js";
import type { DaemonFixture } from "./daemon-fixture.js";
import type { Daemon } from "./start-daemon.js";
import { openUnixTunnel, type UnixTunnel } from "./unix-tunnel.js";

export interface WebDaemon {
  daemon: Daemon;
  tunnel: UnixTunnel;
  /** The tunnel's `http://127.0.0.1:<port>`. */
  base: string;
}

/** Starts a daemon with `env` (its display base, its launchers) and a tunnel to it, both gone after the test. */
export async function startWebDaemon(fx: DaemonFixture, env: Record<string, string>): Promise<WebDaemon> {
  const daemon = await fx.start({ env });
  const tunnel = await openUnixTunnel(daemon.socketPath ?? "");
  fx.cleanupLater(() => tunnel.close());
  return { daemon, tunnel, base: tunnel.url };
}

/** A bubblewrap sandbox of `projectDir` named `name`. */
export async function createNamed(
  daemon: Daemon,
  projectDir: string,
  name: string,
  extra: { network?: boolean; shell?: boolean } = {},
): Promise<Sandbox> {
  const { sandbox } = await daemon.client.createSandbox({
    name,
    backend: Backend.BUBBLEWRAP,
    projectDir,
    ...extra,
  });
  if (sandbox === undefined) throw new Error("no sandbox in the response");
  return sandbox;
}
