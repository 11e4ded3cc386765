import { afterEach, describe, expect, test } from "vitest";
import { describeRun, IDENTITIES, launch, useLauncherFixture } from "../helpers/launcher-harness.js";
import { requires } from "../helpers/requires.js";
import { startXvfb, type XDisplay } from "../helpers/sandbox-xvfb.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root", "userns");

// The display: a sandbox gets its own X socket and that display's cookie, nothing of other displays.

const fixtures = useLauncherFixture();
const displays: XDisplay[] = [];
afterEach(async () => {
  for (const d of displays.splice(0)) await d.stop();
});

describe.skipIf(missing).each(IDENTITIES)("display forwarding, as %s", (_name, user) => {
  test("only this sandbox's X display and its cookie are inside; another display is out of reach", async () => {
    const fx = await fixtures.create(user());
    const mine = await startXvfb(fx.user, fx.root);
    displays.push(mine);
    const other = await startXvfb(fx.user, fx.root);
    displays.push(other);
    const script = [
      "ls /tmp/.X11-unix | tr '\\n' ' '; echo",
      "xdpyinfo >/dev/null 2>&1 && echo mine-ok || echo mine-fail",
      `DISPLAY=${other.display} xdpyinfo >/dev/null 2>&1 && echo other-reached || echo other-unreachable`,
      "xauth list | wc -l",
      'echo "$XAUTHORITY"',
    ].join("; ");
    const r = await launch(fx, ["--shell", fx.project, "--", "-c", script], {
      env: { DISPLAY: mine.display, XAUTHORITY: mine.xauthority },
    });
    expect(r.exitCode, describeRun(r)).toBe(0);
    const [sockets, reach, otherReach, cookies, xauthority] = String(r.stdout).trim().split("\n");
    expect(sockets?.trim()).toBe(`X${mine.number}`);
    expect(reach, describeRun(r)).toBe("mine-ok");
    expect(otherReach).toBe("other-unreachable");
    // The user's file holds two entries (":0" and ":N"); only this display's is copied in.
    expect(Number(cookies)).toBe(1);
    expect(xauthority).not.toBe(mine.xauthority);
  }, 60_000);

  test("a DISPLAY whose socket is gone does not fail the launch (seed bug 30)", async () => {
    const fx = await fixtures.create(user());
    const r = await launch(
      fx,
      ["--no-network", "--shell", fx.project, "--", "-c", 'echo ran; echo "$' + '{DISPLAY:-none}"'],
      {
        env: { DISPLAY: ":987" },
      },
    );
    expect(r.exitCode, describeRun(r)).toBe(0);
    expect(String(r.stdout)).toBe("ran\nnone\n");
    expect(String(r.stderr)).toContain("DISPLAY=:987");
  });
});
