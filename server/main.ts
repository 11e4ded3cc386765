#!/usr/bin/env node
// claude-sandbox-manager: the daemon. Configuration comes from the environment (server/config.ts); it logs one
// line per notable event to stderr. SIGTERM/SIGINT end open streams with their final message, flush state and
// exit 0; sandboxes keep running in their tmux sessions and the next start adopts them.
import { mkdir, stat } from "node:fs/promises";
import { createWebGateway } from "../web/app.js";
import { createApp } from "./app.js";
import { createClaudeUsage } from "./claude-usage/claude-usage.js";
import { loadPriceTable, type PriceTable } from "./claude-usage/price-table.js";
import { ConfigError, KNOWN_VARIABLES, loadConfig, type ServerConfig, unknownVariables } from "./config.js";
import { readTokenFile } from "./http/token-file.js";
import { logSandboxEvents } from "./log-sandbox-events.js";
import { createLogHub } from "./logs/create-log-hub.js";
import { createSystemSampler, type SystemSampler } from "./metrics/system-sampler.js";
import { createSandboxManager } from "./sandbox/manager.js";
import type { SandboxManager } from "./sandbox/sandbox-manager.js";
import { createScreenshotCapturer } from "./screenshots/screenshot-capturer.js";
import { findGroup } from "./tools/user-database.js";

const EXIT_OK = 0;
const EXIT_START_FAILED = 1;
const EXIT_BAD_CONFIG = 2;
// Open streams get their final messages within the app's drain time; this only guards against a hang.
const SHUTDOWN_DEADLINE_MS = 8000;

const log = (line: string): void => {
  process.stderr.write(`claude-sandbox-manager: ${line}\n`);
};

async function main(): Promise<number> {
  let config: ServerConfig;
  try {
    config = loadConfig(process.env, process.cwd());
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    log(`configuration error: ${err.message}`);
    return EXIT_BAD_CONFIG;
  }
  for (const name of unknownVariables(process.env)) {
    log(`warning: ignoring ${name}, which is not a setting (known: ${KNOWN_VARIABLES.join(", ")})`);
  }
  let token: string | undefined;
  let socketGid: number | undefined;
  try {
    if (config.tokenFile !== undefined) token = await readTokenFile(config.tokenFile);
    if (config.socketGroup !== undefined) socketGid = await resolveGroup(config.socketGroup);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    log(`configuration error: ${err.message}`);
    return EXIT_BAD_CONFIG;
  }
  let prices: PriceTable;
  try {
    prices = await loadPriceTable(config.claudePrices);
  } catch (err) {
    // The shipped table is always readable, so this is MANAGER_CLAUDE_PRICES's file.
    log(`configuration error: MANAGER_CLAUDE_PRICES: ${messageOf(err)}`);
    return EXIT_BAD_CONFIG;
  }
  try {
    await prepareStateDir(config.stateDir);
  } catch (err) {
    log(`cannot use state directory: ${messageOf(err)}`);
    return EXIT_START_FAILED;
  }

  const logHub = createLogHub();
  let manager: SandboxManager;
  try {
    manager = await createSandboxManager({
      stateDir: config.stateDir,
      launchers: config.launchers,
      screen: config.screen,
      displayBase: config.displayBase,
      path: config.path,
    });
  } catch (err) {
    logHub.close();
    log(`cannot start: ${messageOf(err)}`);
    return EXIT_START_FAILED;
  }
  logAdoption(manager);
  logSandboxEvents(manager, log);
  // Sampled from now on, so the first GetSystemMetrics already has CPU over an interval.
  let systemMetrics: SystemSampler | undefined;
  try {
    systemMetrics = await createSystemSampler({
      stateDir: config.stateDir,
      sandboxes: () => manager.usageSources(),
    });
  } catch (err) {
    // A host without a readable /proc still runs sandboxes; only its metrics are missing.
    log(`warning: no system metrics: ${messageOf(err)}`);
  }
  // Captures run in the background from now on; GetScreenshot answers from what they cached.
  const screenshots = createScreenshotCapturer({
    displays: () => manager.displays(),
    onEvent: (listener) => manager.onEvent(listener),
    log: (line) => log(`screenshots: ${line}`),
  });

  const app = createApp({
    listen: config.listen,
    token,
    socketGid,
    manager,
    logHub,
    log,
    hostnames: config.hostnames,
    systemMetrics,
    gateway: createWebGateway({ log: (line) => log(`web: ${line}`) }),
    claudeUsage: createClaudeUsage({ projectsDir: config.claudeProjectsDir, prices }),
    screenshots,
  });
  try {
    const where = await app.listen();
    log(`listening on ${where} (state in ${config.stateDir})`);
    log(
      config.listen.kind === "tcp"
        ? "every request must carry the token from MANAGER_TOKEN_FILE (Authorization: Bearer …); browsers sign " +
            `in once at ${where}/login`
        : `may connect: this daemon's user (uid ${process.geteuid?.()}), root and members of group ` +
            `${socketGid ?? process.getegid?.()}; they act as this user`,
    );
  } catch (err) {
    log(messageOf(err));
    await app.close();
    await screenshots.close();
    systemMetrics?.close();
    await manager.close();
    return EXIT_START_FAILED;
  }

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
  log(`${signal} received: shutting down; sandboxes keep running and are adopted by the next start`);
  const onSecondSignal = () => {
    log("second signal: exiting without finishing the shutdown");
    process.exit(EXIT_START_FAILED);
  };
  process.once("SIGTERM", onSecondSignal);
  process.once("SIGINT", onSecondSignal);
  setTimeout(() => {
    log(`shutdown did not finish within ${SHUTDOWN_DEADLINE_MS / 1000} s; exiting anyway`);
    process.exit(EXIT_START_FAILED);
  }, SHUTDOWN_DEADLINE_MS).unref();

  await app.close();
  await screenshots.close();
  systemMetrics?.close();
  try {
    await manager.close();
  } catch (err) {
    log(`could not flush state: ${messageOf(err)}`);
    return EXIT_START_FAILED;
  }
  log("stopped");
  return EXIT_OK;
}

async function resolveGroup(name: string): Promise<number> {
  const group = await findGroup(name);
  if (group === undefined) {
    throw new ConfigError(
      "MANAGER_SOCKET_GROUP",
      `MANAGER_SOCKET_GROUP=${JSON.stringify(name)}: no such group; create it (groupadd ${name}) or name another`,
    );
  }
  return group.gid;
}

async function prepareStateDir(dir: string): Promise<void> {
  // 0700: the directory holds X auth cookies and the tmux socket that controls every sandbox.
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST" || code === "ENOTDIR")
      throw new Error(`${dir} (or a parent) exists and is not a directory`);
    throw err;
  }
  const info = await stat(dir);
  if (!info.isDirectory()) throw new Error(`${dir} exists and is not a directory`);
  if ((info.mode & 0o077) !== 0) {
    log(
      `warning: state directory ${dir} is accessible to other users (mode ${(info.mode & 0o777).toString(8)}); ` +
        "it holds X auth cookies and the tmux socket: chmod 700 it",
    );
  }
}

function logAdoption(manager: SandboxManager): void {
  const counts = { running: 0, stopped: 0, dead: 0 };
  for (const sandbox of manager.list()) counts[sandbox.status]++;
  log(
    `state loaded: ${counts.running} running (adopted), ${counts.dead} dead, ${counts.stopped} stopped; ` +
      `tmux socket ${manager.tmuxSocket}`,
  );
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(EXIT_START_FAILED);
  },
);
