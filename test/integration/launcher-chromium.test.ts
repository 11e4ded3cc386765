import { chown, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { describeRun, IDENTITIES, launch, useLauncherFixture } from "../helpers/launcher-harness.js";
import { requires } from "../helpers/requires.js";
import { REPO } from "../helpers/sandbox-launcher.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root", "userns", "chromium");

// The `chromium` on the sandbox PATH: per-project profile, no session bus, the managed policy from the spec.
// (Rendering on a real display is covered by the Chromium render test; this one runs headless.)

const fixtures = useLauncherFixture();

describe.skipIf(missing).each(IDENTITIES)("Chromium inside the sandbox, as %s", (_name, user) => {
  test("chromium uses the project's profile dir and sees the spec's managed policy", async () => {
    const fx = await fixtures.create(user());
    const page = path.join(fx.project, "page.html");
    await writeFile(page, "<html><body><p id=x>rendered-in-sandbox</p></body></html>");
    await chown(page, fx.user.uid, fx.user.gid);
    const r = await launch(
      fx,
      [
        "--no-network",
        "--shell",
        fx.project,
        "--",
        "-c",
        [
          "command -v chromium",
          "cat /etc/chromium/policies/managed/claude-sandbox.json; echo",
          `DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent timeout 60 chromium --headless=new --disable-gpu --no-first-run --dump-dom file://${page} 2>/dev/null`,
        ].join("; "),
      ],
      { timeoutMs: 90_000 },
    );
    expect(r.exitCode, describeRun(r)).toBe(0);
    const [wrapper, policy, ...dom] = String(r.stdout).split("\n");
    expect(wrapper).toBe("/run/claude-sandbox/bin/chromium");
    const spec = JSON.parse(await readFile(path.join(REPO, "launcher", "sandbox-spec.json"), "utf8"));
    expect(JSON.parse(policy ?? "")).toEqual(spec.chromium.policy);
    expect(JSON.parse(policy ?? "").ExtensionInstallForcelist).toEqual(spec.chromium.extensionIds);
    expect(dom.join("\n")).toContain("rendered-in-sandbox");
    // The profile was written to the per-project state dir on the host, as the user.
    const profile = await stat(path.join(fx.state, "chromium", "Default"));
    expect(profile.isDirectory()).toBe(true);
    expect(profile.uid).toBe(fx.user.uid);
  }, 120_000);
});
