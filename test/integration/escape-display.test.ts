import { chown } from "node:fs/promises";
import path from "node:path";
import { execa } from "execa";
import { afterEach, describe, expect, test } from "vitest";
import { requires } from "../helpers/requires.js";
import { startSessionBus } from "../helpers/sandbox-dbus.js";
import { useSandboxFixture } from "../helpers/sandbox-home.js";
import { closeAll, type HostResource } from "../helpers/sandbox-host.js";
import { pathWithout } from "../helpers/sandbox-launcher.js";
import { leaks, runProbe } from "../helpers/sandbox-probe.js";
import { ensureTestUser, ROOT, type SandboxUser } from "../helpers/sandbox-user.js";
import { startXvfb } from "../helpers/sandbox-xvfb.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root", "userns");

// Display and desktop bus: the sandbox gets its own X display (socket plus that display's cookie only) and
// never another one, even when the user's XAUTHORITY holds cookies for several; the session bus reaches
// only the Secret Service through xdg-dbus-proxy, never systemd, notifications, portals or other apps.

const users: [string, () => SandboxUser][] = [
  ["root", () => ROOT],
  ["unprivileged user", ensureTestUser],
];

const ALLOWED = "org.freedesktop.secrets";
const HIDDEN = [
  "org.freedesktop.systemd1",
  "org.freedesktop.Notifications",
  "org.freedesktop.portal.Desktop",
  "org.gnome.Terminal",
];

const fixtures = useSandboxFixture();
const resources: (HostResource | undefined)[] = [];
afterEach(async () => {
  await closeAll(resources.splice(0));
});

describe.skipIf(missing).each(users)("display and D-Bus, as %s", (_label, user) => {
  test("only its own X display and cookie, never another display's", async () => {
    const fx = await fixtures.create(user());
    const own = await startXvfb(fx.owner, fx.outside, "640x480x24");
    resources.push({ close: own.stop });
    const other = await startXvfb(fx.owner, fx.outside, "640x480x24");
    resources.push({ close: other.stop });
    // A user's XAUTHORITY often holds cookies for several displays; only DISPLAY's may cross.
    const combined = path.join(fx.outside, "Xauthority");
    await execa("xauth", ["-q", "-f", combined, "add", own.display, ".", own.cookie]);
    await execa("xauth", ["-q", "-f", combined, "add", other.display, ".", other.cookie]);
    await chown(combined, fx.owner.uid, fx.owner.gid);

    const probe = await runProbe(
      fx,
      ["--new", "--no-network"],
      { ownDisplay: own.number, otherDisplays: [other.number], otherCookies: [other.cookie] },
      ["display"],
      { env: { DISPLAY: own.display, XAUTHORITY: combined } },
    );
    expect(probe.byName("x11-own-display"), probe.describe()).toMatchObject({ blocked: false });
    const attacks = probe.results.filter((r) => r.name !== "x11-own-display" && r.name !== "probe-done");
    expect(attacks.length, probe.describe()).toBe(4);
    expect(leaks(attacks), probe.describe()).toBe("");
  });

  test("on a host without xauth, still never another display's cookie", async () => {
    const fx = await fixtures.create(user());
    const own = await startXvfb(fx.owner, fx.outside, "640x480x24");
    resources.push({ close: own.stop });
    const other = await startXvfb(fx.owner, fx.outside, "640x480x24");
    resources.push({ close: other.stop });
    const combined = path.join(fx.outside, "Xauthority");
    await execa("xauth", ["-q", "-f", combined, "add", own.display, ".", own.cookie]);
    await execa("xauth", ["-q", "-f", combined, "add", other.display, ".", other.cookie]);
    await chown(combined, fx.owner.uid, fx.owner.gid);
    // A host without xauth, the one tool that can cut the cookie file down to one display.
    const bin = await pathWithout(fx.root, ["xauth"]);
    const probe = await runProbe(
      fx,
      ["--new", "--no-network"],
      { ownDisplay: own.number, otherDisplays: [other.number], otherCookies: [other.cookie] },
      ["display"],
      { env: { DISPLAY: own.display, XAUTHORITY: combined, PATH: bin } },
    );
    const cookie = probe.results.filter((r) => r.name.startsWith("xauth-other-cookie"));
    expect(cookie.length, probe.describe()).toBe(1);
    expect(leaks(cookie), probe.describe()).toBe("");
  });

  test("session bus: the Secret Service only", async () => {
    const fx = await fixtures.create(user());
    const bus = await startSessionBus(fx.owner, fx.outside, [ALLOWED, ...HIDDEN]);
    resources.push({ close: bus.stop });
    const probe = await runProbe(
      fx,
      ["--new", "--no-network"],
      { dbusNames: [ALLOWED, ...HIDDEN], dbusHidden: HIDDEN, dbusHostSockets: [bus.socketPath] },
      ["dbus"],
      { env: { DBUS_SESSION_BUS_ADDRESS: bus.address } },
    );
    // Reaching the keyring proves the proxy is in place; the blocked names below then mean "filtered".
    expect(probe.byName(`dbus:${ALLOWED}`), probe.describe()).toMatchObject({ blocked: false });
    const attacks = probe.results.filter(
      (r) => /^dbus(:|-list|-direct|-driver)/.test(r.name) && r.name !== `dbus:${ALLOWED}`,
    );
    expect(attacks.length, probe.describe()).toBe(HIDDEN.length + 4);
    expect(leaks(attacks), probe.describe()).toBe("");
  });

  test("on a host without xdg-dbus-proxy, no bus at all rather than an unfiltered one", async () => {
    const fx = await fixtures.create(user());
    const bus = await startSessionBus(fx.owner, fx.outside, [ALLOWED, ...HIDDEN]);
    resources.push({ close: bus.stop });
    const bin = await pathWithout(fx.root, ["xdg-dbus-proxy"]);
    const probe = await runProbe(
      fx,
      ["--new", "--no-network"],
      { dbusNames: HIDDEN, dbusHidden: HIDDEN, dbusHostSockets: [bus.socketPath] },
      ["dbus"],
      { env: { DBUS_SESSION_BUS_ADDRESS: bus.address, PATH: bin } },
    );
    const attacks = probe.results.filter((r) => /^dbus(:|-list|-direct|-driver)/.test(r.name));
    expect(attacks.length, probe.describe()).toBe(HIDDEN.length + 4);
    expect(leaks(attacks), probe.describe()).toBe("");
  });
});
