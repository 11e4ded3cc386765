import { describe, expect, it } from "vitest";
import { launcherArgv } from "../../server/sandbox/launcher-argv.js";

const base = {
  launcherPath: "/bin/L",
  projectDir: "/p",
  network: true,
  shell: false,
  agentArgs: [] as string[],
};

describe("launcher argv", () => {
  it("starts bubblewrap sandboxes as new, tied to their parent, with agent args after --", () => {
    expect(launcherArgv({ ...base, backend: "bubblewrap", agentArgs: ["--no-network", "x y"] })).toEqual([
      "/bin/L",
      "--new",
      "--die-with-parent",
      "/p",
      "--",
      "--no-network",
      "x y",
    ]);
  });

  it("passes --no-network and --shell when asked", () => {
    expect(launcherArgv({ ...base, backend: "bubblewrap", network: false, shell: true })).toEqual([
      "/bin/L",
      "--new",
      "--die-with-parent",
      "--no-network",
      "--shell",
      "/p",
      "--",
    ]);
  });

  it.each(["container", "vm"] as const)(
    "gives %s the same shape without --new/--die-with-parent",
    (backend) => {
      expect(launcherArgv({ ...base, backend, network: false, agentArgs: ["a"] })).toEqual([
        "/bin/L",
        "--no-network",
        "/p",
        "--",
        "a",
      ]);
    },
  );

  it("never lets a project dir that looks like a flag become one", () => {
    const argv = launcherArgv({ ...base, backend: "vm", projectDir: "/--shell" });
    expect(argv.indexOf("/--shell")).toBe(argv.indexOf("--") - 1);
  });
});
