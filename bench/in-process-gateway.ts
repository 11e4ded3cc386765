// The daemon's HTTP front with a web gateway mounted, in this process, as server/main.ts builds it
// (createSandboxManager, createLogHub, createApp): the web benchmarks measure the gateway itself, with nothing
// of a daemon process in between. The manager gets the stock launchers; none of them is run.
import { createApp } from "../server/app.js";
import type { GatewayFactory } from "../server/http/gateway.js";
import { createLogHub } from "../server/logs/create-log-hub.js";
import { createSandboxManager } from "../server/sandbox/manager.js";

export interface InProcessGatewayOptions {
  /** The manager's state directory (its state.json is what the gateway serves). */
  stateDir: string;
  /** The Unix socket to listen on. */
  socketPath: string;
  /** First X display number, so that the benchmarks' managers do not count each other's. */
  displayBase: number;
  gateway: GatewayFactory;
  /** The app's log lines. */
  log: (line: string) => void;
  /** The manager's search path for its tools; default $PATH. */
  path?: string;
}

export interface InProcessGateway {
  readonly socketPath: string;
  /** Closes the app, then the manager (which holds the state directory's lock). */
  close(): Promise<void>;
}

/** Builds the manager and the app, and listens. */
export async function startInProcessGateway(options: InProcessGatewayOptions): Promise<InProcessGateway> {
  const manager = await createSandboxManager({
    stateDir: options.stateDir,
    launchers: {
      bubblewrap: "claude-sandbox",
      container: "claude-sandbox-container",
      vm: "claude-sandbox-vm",
    },
    screen: "1920x1080x24",
    displayBase: options.displayBase,
    path: options.path,
  });
  const app = createApp({
    listen: { kind: "unix", path: options.socketPath },
    manager,
    logHub: createLogHub(),
    log: options.log,
    gateway: options.gateway,
  });
  const close = async () => {
    await app.close();
    await manager.close();
  };
  try {
    await app.listen();
  } catch (error) {
    await close();
    throw error;
  }
  return { socketPath: options.socketPath, close };
}
