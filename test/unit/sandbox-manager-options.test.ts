import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../server/config.js";
import { SandboxError } from "../../server/sandbox/errors.js";
import { checkManagerOptions } from "../../server/sandbox/manager-options.js";
import type { SandboxManagerOptions } from "../../server/sandbox/sandbox-manager.js";

// The manager's settings arrive two ways, from the daemon's environment and as createSandboxManager's options,
// and both must take and refuse the same values for the same reason.
const CWD = "/srv";
const OPTIONS: SandboxManagerOptions = {
  stateDir: "/srv/state",
  launchers: { bubblewrap: "claude-sandbox", container: "claude-sandbox-container", vm: "claude-sandbox-vm" },
  screen: "1920x1080x24",
  displayBase: 50,
};

/** The problem the daemon's configuration names, or undefined when it takes `env`. */
function configProblem(env: Record<string, string>): string | undefined {
  try {
    loadConfig({ PATH: "/usr/bin", MANAGER_LISTEN: "unix:/run/a.sock", ...env }, CWD);
    return undefined;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.message.slice(err.message.indexOf(": ") + 2);
  }
}

/** The problem createSandboxManager names, or undefined when it takes the options. */
function managerProblem(options: Partial<SandboxManagerOptions>): string | undefined {
  const all = { ...OPTIONS, ...options };
  try {
    checkManagerOptions(all, all.stateDir);
    return undefined;
  } catch (err) {
    if (!(err instanceof SandboxError)) throw err;
    expect(err.kind).toBe("invalid_argument");
    return err.message.slice(err.message.indexOf(": ") + 2);
  }
}

/** A state directory whose tmux socket path is exactly `bytes` long. */
const stateDirFor = (bytes: number) => `/${"d".repeat(bytes - "/".length - "/tmux.sock".length)}`;

describe("the manager's settings, from the environment and from code alike", () => {
  it.each([
    ["1920x1080x24", undefined],
    ["16384x16384x30", undefined],
    ["640x480x8", undefined],
    ["1920x1080x32", "depth must be one of 8, 15, 16, 24, 30"],
    ["1920x1080x12", "depth must be one of 8, 15, 16, 24, 30"],
    ["16385x1080x24", "width and height must be from 1 to 16384"],
    ["0x1080x24", "width and height must be from 1 to 16384"],
    ["1920x1080", "expected WIDTHxHEIGHTxDEPTH, for example 1920x1080x24"],
  ])("screen %s: %s", (screen, problem) => {
    expect(configProblem({ MANAGER_SCREEN: screen })).toBe(problem);
    expect(managerProblem({ screen })).toBe(problem);
  });

  it.each([
    [0, undefined],
    [60_000, undefined],
    [60_001, "expected a display number from 0 to 60000"],
  ])("display base %i: %s", (displayBase, problem) => {
    expect(configProblem({ MANAGER_DISPLAY_BASE: String(displayBase) })).toBe(problem);
    expect(managerProblem({ displayBase })).toBe(problem);
  });

  it("refuses a display base that is not a whole number, from code too", () => {
    for (const displayBase of [-1, 1.5, Number.NaN]) {
      expect(managerProblem({ displayBase })).toBe("expected a display number from 0 to 60000");
    }
  });

  it.each([
    ["claude-sandbox", undefined],
    ["/opt/x y/launcher", undefined],
    ["bin/launcher", "expected a command name found on PATH or an absolute path"],
    ["launcher --flag", "expected a single command name, not a command line with arguments"],
    ["laun\ncher", "contains a control character"],
  ])("launcher %j: %s", (command, problem) => {
    expect(configProblem({ MANAGER_LAUNCHER_BUBBLEWRAP: command })).toBe(problem);
    expect(managerProblem({ launchers: { ...OPTIONS.launchers, bubblewrap: command } })).toBe(problem);
  });

  it("takes a state directory whose tmux socket path is 107 bytes (sun_path is 108 with its NUL), not 108", () => {
    expect(configProblem({ MANAGER_STATE_DIR: stateDirFor(107) })).toBeUndefined();
    expect(managerProblem({ stateDir: stateDirFor(107) })).toBeUndefined();
    for (const problem of [
      configProblem({ MANAGER_STATE_DIR: stateDirFor(108) }),
      managerProblem({ stateDir: stateDirFor(108) }),
    ]) {
      expect(problem).toContain("tmux.sock would be longer than 107 bytes");
    }
  });

  it("refuses a state directory the manager cannot embed in tmux commands", () => {
    const problem = "contains characters the manager cannot pass to tmux safely";
    expect(configProblem({ MANAGER_STATE_DIR: "/srv/st'ate" })).toContain(problem);
    expect(managerProblem({ stateDir: "/srv/st'ate" })).toContain(problem);
  });
});
