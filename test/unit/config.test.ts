import { describe, expect, it } from "vitest";
import { ConfigError, describeListen, loadConfig, unknownVariables } from "../../server/config.js";

const CWD = "/home/user/work";
const load = (env: Record<string, string>) =>
  loadConfig({ PATH: "/usr/bin", HOME: "/home/user", ...env }, CWD);
// What a TCP listener needs besides its address.
const TOKEN = { MANAGER_TOKEN_FILE: "/etc/claude-sandbox/token" };

function errorOf(env: Record<string, string>): ConfigError {
  try {
    load(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be rejected`);
}

describe("loadConfig", () => {
  it("takes a price table for Claude costs, relative to the working directory", () => {
    expect(load({ MANAGER_CLAUDE_PRICES: "prices.json" }).claudePrices).toBe("/home/user/work/prices.json");
    expect(load({}).claudePrices).toBeUndefined();
    expect(errorOf({ MANAGER_CLAUDE_PRICES: "a\nb" }).variable).toBe("MANAGER_CLAUDE_PRICES");
  });

  it("defaults to a Unix socket in ./state, 1920x1080x24, display 50 and the launchers on PATH", () => {
    expect(load({})).toEqual({
      listen: { kind: "unix", path: "/home/user/work/state/api.sock" },
      stateDir: "/home/user/work/state",
      screen: "1920x1080x24",
      displayBase: 50,
      launchers: {
        bubblewrap: "claude-sandbox",
        container: "claude-sandbox-container",
        vm: "claude-sandbox-vm",
      },
      path: "/usr/bin",
      hostnames: [],
      claudeProjectsDir: "/home/user/.claude/projects",
    });
  });

  it("takes extra host names for browsers from MANAGER_HOSTNAMES and refuses what is not a host name", () => {
    expect(load({ MANAGER_HOSTNAMES: "DevBox.internal, build-1" }).hostnames).toEqual([
      "devbox.internal",
      "build-1",
    ]);
    for (const bad of ["devbox:3000", "*.example", "a b", "evil.example,", "-x"]) {
      expect(errorOf({ MANAGER_HOSTNAMES: bad }).variable).toBe("MANAGER_HOSTNAMES");
    }
  });

  it("treats an empty variable as unset", () => {
    expect(load({ MANAGER_LISTEN: "", MANAGER_STATE_DIR: "", MANAGER_TOKEN_FILE: "" }).listen).toEqual({
      kind: "unix",
      path: "/home/user/work/state/api.sock",
    });
  });

  it("puts the default socket in the state directory, and names MANAGER_STATE_DIR when that path is too long", () => {
    expect(load({ MANAGER_STATE_DIR: "/var/lib/claude" }).listen).toEqual({
      kind: "unix",
      path: "/var/lib/claude/api.sock",
    });
    const err = errorOf({ MANAGER_STATE_DIR: `/${"x".repeat(110)}` });
    expect(err.variable).toBe("MANAGER_STATE_DIR");
    expect(err.message).toContain("longer than 107 bytes");
    expect(err.message).toContain("MANAGER_LISTEN=unix:");
  });

  it.each([
    ["127.0.0.1:8080", { kind: "tcp", host: "127.0.0.1", port: 8080 }],
    ["127.1.2.3:1", { kind: "tcp", host: "127.1.2.3", port: 1 }],
    ["localhost:3001", { kind: "tcp", host: "127.0.0.1", port: 3001 }],
    ["[::1]:65535", { kind: "tcp", host: "::1", port: 65535 }],
  ])("accepts MANAGER_LISTEN=%s with a token file", (raw, expected) => {
    const config = load({ MANAGER_LISTEN: raw, ...TOKEN });
    expect(config.listen).toEqual(expected);
    expect(config.tokenFile).toBe("/etc/claude-sandbox/token");
  });

  it.each([
    ["unix:/run/claude/api.sock", { kind: "unix", path: "/run/claude/api.sock" }],
    ["unix:api.sock", { kind: "unix", path: "/home/user/work/api.sock" }],
  ])("accepts MANAGER_LISTEN=%s", (raw, expected) => {
    expect(load({ MANAGER_LISTEN: raw }).listen).toEqual(expected);
  });

  it("refuses a TCP listener without MANAGER_TOKEN_FILE, naming the variable", () => {
    const err = errorOf({ MANAGER_LISTEN: "127.0.0.1:3000" });
    expect(err.variable).toBe("MANAGER_TOKEN_FILE");
    expect(err.message).toContain("MANAGER_TOKEN_FILE is not set");
    expect(err.message).toContain("any local user can reach a TCP port");
    expect(load({ MANAGER_LISTEN: "127.0.0.1:3000", MANAGER_TOKEN_FILE: "token" }).tokenFile).toBe(
      "/home/user/work/token",
    );
  });

  it("refuses a token with a Unix socket and a socket group with TCP", () => {
    expect(errorOf({ MANAGER_TOKEN_FILE: "/t" }).message).toContain(
      'MANAGER_TOKEN_FILE="/t": only a TCP listener takes a token',
    );
    expect(errorOf({ MANAGER_LISTEN: "127.0.0.1:3000", ...TOKEN, MANAGER_SOCKET_GROUP: "x" }).variable).toBe(
      "MANAGER_SOCKET_GROUP",
    );
  });

  it("takes MANAGER_SOCKET_GROUP as a group name or number", () => {
    expect(load({ MANAGER_SOCKET_GROUP: "claude-sandbox" }).socketGroup).toBe("claude-sandbox");
    expect(load({ MANAGER_SOCKET_GROUP: "1001" }).socketGroup).toBe("1001");
    expect(errorOf({ MANAGER_SOCKET_GROUP: "a group" }).message).toBe(
      'MANAGER_SOCKET_GROUP="a group": expected a group name or number, for example claude-sandbox',
    );
  });

  it.each([
    ["3000", "expected host:port"],
    ["127.0.0.1", "expected host:port"],
    ["127.0.0.1:0", 'port "0" must be a number from 1 to 65535'],
    ["127.0.0.1:65536", "must be a number from 1 to 65535"],
    ["127.0.0.1:http", "must be a number from 1 to 65535"],
    ["example.com:3000", 'host "example.com" must be an IPv4 address'],
    ["::1:3000", "expected host:port"],
    ["[127.0.0.1]:3000", "is not an IPv6 address"],
    ["unix:", "expected a socket path after unix:"],
    [`unix:/${"x".repeat(120)}`, "longer than 107 bytes"],
    ["127.0.0.1:30\n00", "control character"],
  ])("rejects MANAGER_LISTEN=%j", (raw, problem) => {
    const err = errorOf({ MANAGER_LISTEN: raw });
    expect(err.variable).toBe("MANAGER_LISTEN");
    expect(err.message).toContain(`MANAGER_LISTEN=${JSON.stringify(raw)}`);
    expect(err.message).toContain(problem);
  });

  it.each(["0.0.0.0:3000", "192.168.1.10:3000", "[::]:3000", "[2001:db8::1]:3000"])(
    "refuses the non-loopback address %s unless MANAGER_ALLOW_NON_LOOPBACK=1",
    (raw) => {
      const err = errorOf({ MANAGER_LISTEN: raw });
      expect(err.message).toContain("not a loopback address");
      expect(err.message).toContain("MANAGER_ALLOW_NON_LOOPBACK=1");
      expect(load({ MANAGER_LISTEN: raw, MANAGER_ALLOW_NON_LOOPBACK: "1", ...TOKEN }).listen.kind).toBe(
        "tcp",
      );
    },
  );

  it("rejects a MANAGER_ALLOW_NON_LOOPBACK that is not a boolean, and 0 keeps the refusal", () => {
    expect(errorOf({ MANAGER_ALLOW_NON_LOOPBACK: "sure" }).message).toBe(
      'MANAGER_ALLOW_NON_LOOPBACK="sure": expected 1 or 0 (also true/false, yes/no)',
    );
    expect(errorOf({ MANAGER_LISTEN: "0.0.0.0:3000", MANAGER_ALLOW_NON_LOOPBACK: "0" }).variable).toBe(
      "MANAGER_LISTEN",
    );
  });

  it("resolves MANAGER_STATE_DIR against the working directory and rejects control characters", () => {
    expect(load({ MANAGER_STATE_DIR: "/var/lib/claude" }).stateDir).toBe("/var/lib/claude");
    expect(load({ MANAGER_STATE_DIR: "../elsewhere" }).stateDir).toBe("/home/user/elsewhere");
    expect(errorOf({ MANAGER_STATE_DIR: "st\tate" }).message).toBe(
      'MANAGER_STATE_DIR="st\\tate": contains a control character',
    );
  });

  it.each([
    ["1280x800x24", "1280x800x24"],
    ["640x480x16", "640x480x16"],
  ])("accepts MANAGER_SCREEN=%s", (raw, expected) => {
    expect(load({ MANAGER_SCREEN: raw }).screen).toBe(expected);
  });

  it.each([
    ["1920x1080", "expected WIDTHxHEIGHTxDEPTH"],
    ["1920*1080*24", "expected WIDTHxHEIGHTxDEPTH"],
    ["0x1080x24", "width and height must be from 1 to 16384"],
    ["99999x1080x24", "width and height must be from 1 to 16384"],
    ["1920x1080x12", "depth must be one of 8, 15, 16, 24, 30"],
  ])("rejects MANAGER_SCREEN=%s", (raw, problem) => {
    const err = errorOf({ MANAGER_SCREEN: raw });
    expect(err.variable).toBe("MANAGER_SCREEN");
    expect(err.message).toContain(`MANAGER_SCREEN=${JSON.stringify(raw)}: ${problem}`);
  });

  it("parses MANAGER_DISPLAY_BASE and rejects what is not a display number", () => {
    expect(load({ MANAGER_DISPLAY_BASE: "100" }).displayBase).toBe(100);
    expect(load({ MANAGER_DISPLAY_BASE: "0" }).displayBase).toBe(0);
    for (const raw of ["-1", "1.5", "fifty", "70000"]) {
      expect(errorOf({ MANAGER_DISPLAY_BASE: raw }).message).toBe(
        `MANAGER_DISPLAY_BASE=${JSON.stringify(raw)}: expected a display number from 0 to 60000`,
      );
    }
  });

  it.each([
    ["MANAGER_LAUNCHER_BUBBLEWRAP", "bubblewrap"],
    ["MANAGER_LAUNCHER_CONTAINER", "container"],
    ["MANAGER_LAUNCHER_VM", "vm"],
  ] as const)("takes %s as a command name or absolute path", (variable, backend) => {
    expect(load({ [variable]: "my-launcher" }).launchers[backend]).toBe("my-launcher");
    expect(load({ [variable]: "/opt/x y/launcher" }).launchers[backend]).toBe("/opt/x y/launcher");
    expect(errorOf({ [variable]: "bin/launcher" }).message).toBe(
      `${variable}="bin/launcher": expected a command name found on PATH or an absolute path`,
    );
    expect(errorOf({ [variable]: "launcher --flag" }).message).toContain(
      "expected a single command name, not a command line with arguments",
    );
  });

  it("passes PATH through for the manager's tool lookup", () => {
    expect(loadConfig({ PATH: "/a:/b" }, CWD).path).toBe("/a:/b");
  });
});

describe("unknownVariables", () => {
  it("lists MANAGER_* variables the daemon does not read (likely typos)", () => {
    expect(unknownVariables({ MANAGER_LISTN: "x", MANAGER_LISTEN: "y", HOME: "/root" })).toEqual([
      "MANAGER_LISTN",
    ]);
  });
});

describe("describeListen", () => {
  it("gives a URL for TCP (brackets for IPv6) and unix:path for sockets", () => {
    expect(describeListen({ kind: "tcp", host: "127.0.0.1", port: 3000 })).toBe("http://127.0.0.1:3000");
    expect(describeListen({ kind: "tcp", host: "::1", port: 3000 })).toBe("http://[::1]:3000");
    expect(describeListen({ kind: "unix", path: "/run/a.sock" })).toBe("unix:/run/a.sock");
  });
});
