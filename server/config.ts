// The daemon's configuration. This module is the only reader of the environment for the server: everything
// else receives the validated ServerConfig. Parsing is pure (no file system access) so it can be tested as a
// table; creating the state directory is the daemon's job at start.
import { isIP } from "node:net";
import { homedir } from "node:os";
import { resolve } from "node:path";
import {
  launcherCommandProblem,
  type Parsed,
  parseDisplayBase,
  parseScreen,
  socketPathProblem,
  stateDirProblem,
} from "./sandbox/manager-options.js";
import type { BackendName } from "./sandbox/types.js";

/** Where the daemon listens. */
export type ListenAddress =
  | { kind: "tcp"; host: string; port: number }
  | {
      kind: "unix";
      /** Absolute path of the socket file. */
      path: string;
    };

export interface ServerConfig {
  listen: ListenAddress;
  /**
   * TCP only, and required there: absolute path of the file holding the bearer token every request must carry.
   * Read at start (server/http/token-file.ts), not here: parsing stays free of file system access.
   */
  tokenFile?: string;
  /**
   * Unix socket only: the group (name or number) given the socket, whose members may use the manager besides
   * its own user and root. Default: the daemon's own group.
   */
  socketGroup?: string;
  /** Absolute path of the state directory. */
  stateDir: string;
  /** Xvfb screen geometry, WIDTHxHEIGHTxDEPTH. */
  screen: string;
  /** Lowest X display number handed out. */
  displayBase: number;
  /** Launcher command per backend: a name looked up on PATH, or an absolute path. */
  launchers: Record<BackendName, string>;
  /** PATH the manager searches for tmux, Xvfb, xauth and the launchers. */
  path: string;
  /**
   * Host names besides the loopback ones by which browsers reach the manager (MANAGER_HOSTNAMES, comma-separated,
   * lowercase): requests naming any other Host are refused as possible DNS rebinding.
   */
  hostnames: string[];
  /** MANAGER_CLAUDE_PRICES: a price table to use instead of the shipped one (read at start). */
  claudePrices?: string;
  /** Where the launchers' Claude Code writes sessions: `projects/` of `~/.claude` of the HOME they run with. */
  claudeProjectsDir: string;
}

/** A bad configuration value; the message names the variable and the value. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(message);
  }
}

/** The default listener is a Unix socket of this name in the state directory (mode 0700: the daemon's user only). */
export const DEFAULT_SOCKET_NAME = "api.sock";
export const DEFAULT_STATE_DIR = "state";
export const DEFAULT_SCREEN = "1920x1080x24";
export const DEFAULT_DISPLAY_BASE = 50;
export const DEFAULT_LAUNCHERS: Record<BackendName, string> = {
  bubblewrap: "claude-sandbox",
  container: "claude-sandbox-container",
  vm: "claude-sandbox-vm",
};

const LAUNCHER_VARIABLES: Record<BackendName, string> = {
  bubblewrap: "MANAGER_LAUNCHER_BUBBLEWRAP",
  container: "MANAGER_LAUNCHER_CONTAINER",
  vm: "MANAGER_LAUNCHER_VM",
};

/** Every variable the daemon reads, for the unknown-variable warning. */
export const KNOWN_VARIABLES = [
  "MANAGER_LISTEN",
  "MANAGER_TOKEN_FILE",
  "MANAGER_SOCKET_GROUP",
  "MANAGER_ALLOW_NON_LOOPBACK",
  "MANAGER_STATE_DIR",
  "MANAGER_SCREEN",
  "MANAGER_DISPLAY_BASE",
  "MANAGER_HOSTNAMES",
  "MANAGER_CLAUDE_PRICES",
  ...Object.values(LAUNCHER_VARIABLES),
] as const;

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads and validates the configuration. Throws ConfigError for the first bad variable.
 * @param cwd directory a relative MANAGER_STATE_DIR or unix socket path is resolved against
 */
export function loadConfig(env: Env, cwd: string): ServerConfig {
  const allowNonLoopback = parseBoolean(env, "MANAGER_ALLOW_NON_LOOPBACK", false);
  const stateDirRaw = value(env, "MANAGER_STATE_DIR") ?? DEFAULT_STATE_DIR;
  rejectControlCharacters("MANAGER_STATE_DIR", stateDirRaw);
  const stateDir = resolve(cwd, stateDirRaw);
  const listenRaw = value(env, "MANAGER_LISTEN");
  const listen =
    listenRaw === undefined
      ? defaultListen(stateDirRaw, stateDir)
      : parseListen(listenRaw, cwd, allowNonLoopback);
  const stateDirRefusal = stateDirProblem(stateDir);
  if (stateDirRefusal !== undefined) fail("MANAGER_STATE_DIR", stateDirRaw, stateDirRefusal);
  const access = parseAccess(env, listen, cwd);
  const launchers = { ...DEFAULT_LAUNCHERS };
  for (const backend of Object.keys(LAUNCHER_VARIABLES) as BackendName[]) {
    const variable = LAUNCHER_VARIABLES[backend];
    const raw = value(env, variable);
    if (raw !== undefined) launchers[backend] = parseCommand(variable, raw);
  }
  return {
    listen,
    ...access,
    stateDir,
    screen: parsed("MANAGER_SCREEN", value(env, "MANAGER_SCREEN") ?? DEFAULT_SCREEN, parseScreen),
    displayBase: parseDisplayBaseVariable(value(env, "MANAGER_DISPLAY_BASE")),
    launchers,
    path: env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    hostnames: parseHostnames(value(env, "MANAGER_HOSTNAMES")),
    claudePrices: parseClaudePrices(value(env, "MANAGER_CLAUDE_PRICES"), cwd),
    claudeProjectsDir: resolve(env.HOME ?? homedir(), ".claude", "projects"),
  };
}

function parseClaudePrices(raw: string | undefined, cwd: string): string | undefined {
  if (raw === undefined) return undefined;
  rejectControlCharacters("MANAGER_CLAUDE_PRICES", raw);
  return resolve(cwd, raw);
}

// A DNS name (labels of letters, digits and hyphens), as a Host header would carry it; no ports, no wildcards.
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

function parseHostnames(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  const names = raw.split(",").map((name) => name.trim().toLowerCase());
  for (const name of names) {
    if (!HOSTNAME.test(name)) {
      fail(
        "MANAGER_HOSTNAMES",
        raw,
        `${JSON.stringify(name)} is not a host name (comma-separated names, no ports)`,
      );
    }
  }
  return names;
}

/** MANAGER_* variables that the daemon does not know: most likely typos, worth a warning at start. */
export function unknownVariables(env: Env): string[] {
  const known = new Set<string>(KNOWN_VARIABLES);
  return Object.keys(env)
    .filter((name) => name.startsWith("MANAGER_") && !known.has(name))
    .sort();
}

/** How to reach the daemon, for the log line and for clients: `http://host:port` or `unix:/path`. */
export function describeListen(listen: ListenAddress): string {
  if (listen.kind === "unix") return `unix:${listen.path}`;
  const host = isIP(listen.host) === 6 ? `[${listen.host}]` : listen.host;
  return `http://${host}:${listen.port}`;
}

// An empty variable counts as unset, as in most shells' `${VAR:-default}`.
function value(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === "" ? undefined : v;
}

function fail(variable: string, raw: string, problem: string): never {
  throw new ConfigError(variable, `${variable}=${JSON.stringify(raw)}: ${problem}`);
}

function rejectControlCharacters(variable: string, raw: string): void {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(raw)) fail(variable, raw, "contains a control character");
}

function parseBoolean(env: Env, variable: string, fallback: boolean): boolean {
  const raw = value(env, variable);
  if (raw === undefined) return fallback;
  if (raw === "1" || raw === "true" || raw === "yes") return true;
  if (raw === "0" || raw === "false" || raw === "no") return false;
  return fail(variable, raw, "expected 1 or 0 (also true/false, yes/no)");
}

/** A value checked by one of the manager's rules (server/sandbox/manager-options.ts), or the variable's error. */
function parsed<T>(variable: string, raw: string, rule: (raw: string) => Parsed<T>): T {
  const result = rule(raw);
  return result.ok ? result.value : fail(variable, raw, result.problem);
}

function defaultListen(stateDirRaw: string, stateDir: string): ListenAddress {
  const path = resolve(stateDir, DEFAULT_SOCKET_NAME);
  const problem = socketPathProblem(path);
  if (problem !== undefined) {
    fail(
      "MANAGER_STATE_DIR",
      stateDirRaw,
      `the default ${problem}; use a shorter state directory or set MANAGER_LISTEN=unix:/shorter/path.sock`,
    );
  }
  return { kind: "unix", path };
}

// Who may use the manager follows from the listener: a Unix socket checks the peer's credentials (and may be
// shared with a group), TCP cannot tell local users apart and takes only requests carrying the token.
function parseAccess(
  env: Env,
  listen: ListenAddress,
  cwd: string,
): Pick<ServerConfig, "tokenFile" | "socketGroup"> {
  const tokenFile = value(env, "MANAGER_TOKEN_FILE");
  const socketGroup = value(env, "MANAGER_SOCKET_GROUP");
  if (listen.kind === "tcp") {
    if (socketGroup !== undefined) {
      fail("MANAGER_SOCKET_GROUP", socketGroup, "only a Unix socket listener has a group; unset it for TCP");
    }
    if (tokenFile === undefined) {
      throw new ConfigError(
        "MANAGER_TOKEN_FILE",
        `MANAGER_TOKEN_FILE is not set, and a TCP listener (${describeListen(listen)}) needs a token: any local ` +
          "user can reach a TCP port. Put a token in a file only the daemon's user can read (mode 0600) and set " +
          "MANAGER_TOKEN_FILE to its path, or leave MANAGER_LISTEN unset for the Unix socket in the state directory",
      );
    }
    rejectControlCharacters("MANAGER_TOKEN_FILE", tokenFile);
    return { tokenFile: resolve(cwd, tokenFile) };
  }
  if (tokenFile !== undefined) {
    fail(
      "MANAGER_TOKEN_FILE",
      tokenFile,
      "only a TCP listener takes a token; a Unix socket checks who connects (unset it, or use MANAGER_SOCKET_GROUP)",
    );
  }
  if (socketGroup === undefined) return {};
  if (!/^(?:[0-9]{1,10}|[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?)$/.test(socketGroup)) {
    fail("MANAGER_SOCKET_GROUP", socketGroup, "expected a group name or number, for example claude-sandbox");
  }
  return { socketGroup };
}

function parseListen(raw: string, cwd: string, allowNonLoopback: boolean): ListenAddress {
  const variable = "MANAGER_LISTEN";
  rejectControlCharacters(variable, raw);
  if (raw.startsWith("unix:")) {
    const rest = raw.slice("unix:".length);
    if (rest === "")
      fail(
        variable,
        raw,
        "expected a socket path after unix:, for example unix:/run/claude-sandbox/api.sock",
      );
    const path = resolve(cwd, rest);
    const problem = socketPathProblem(path);
    if (problem !== undefined) fail(variable, raw, problem);
    return { kind: "unix", path };
  }
  const match = /^(?:\[([^\]]*)\]|([^:[\]]*)):([^:]*)$/.exec(raw);
  if (match === null) {
    fail(variable, raw, "expected host:port, [ipv6]:port or unix:/path/to.sock, for example 127.0.0.1:3000");
  }
  const v6 = match[1];
  const host = v6 ?? match[2] ?? "";
  const portText = match[3] ?? "";
  if (v6 !== undefined && isIP(v6) !== 6) fail(variable, raw, `${JSON.stringify(v6)} is not an IPv6 address`);
  if (v6 === undefined && host !== "localhost" && isIP(host) !== 4) {
    fail(variable, raw, `host ${JSON.stringify(host)} must be an IPv4 address, [IPv6 address] or localhost`);
  }
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    fail(variable, raw, `port ${JSON.stringify(portText)} must be a number from 1 to 65535`);
  }
  // "localhost" can resolve to a non-loopback address through /etc/hosts; bind the literal instead.
  const bindHost = host === "localhost" ? "127.0.0.1" : host;
  if (!isLoopbackHost(bindHost) && !allowNonLoopback) {
    fail(
      variable,
      raw,
      `${bindHost} is not a loopback address, so anyone on the network could control the sandboxes; ` +
        "listen on 127.0.0.1 and use an ssh tunnel, or set MANAGER_ALLOW_NON_LOOPBACK=1 if you really mean it",
    );
  }
  return { kind: "tcp", host: bindHost, port: Number(portText) };
}

/** Whether a hostname or IP literal (brackets allowed) always means this machine. */
export function isLoopbackHost(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/^\[|\]$/g, "");
  if (name === "localhost" || name.endsWith(".localhost")) return true;
  if (isIP(name) === 4) return name.startsWith("127.");
  return name === "::1" || name === "0:0:0:0:0:0:0:1" || /^::ffff:127\./.test(name);
}

function parseDisplayBaseVariable(raw: string | undefined): number {
  return raw === undefined ? DEFAULT_DISPLAY_BASE : parsed("MANAGER_DISPLAY_BASE", raw, parseDisplayBase);
}

function parseCommand(variable: string, raw: string): string {
  const problem = launcherCommandProblem(raw);
  return problem === undefined ? raw : fail(variable, raw, problem);
}
