import { existsSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { requires } from "../helpers/requires.js";
import { type SandboxFixture, useSandboxFixture } from "../helpers/sandbox-home.js";
import {
  closeAll,
  type HostResource,
  hostAddresses,
  startEgressPeer,
  startHttpServer,
  startUdpListener,
  startUnixServer,
} from "../helpers/sandbox-host.js";
import { describeRun, findProcesses, pathWithout, runLauncher } from "../helpers/sandbox-launcher.js";
import { installProbe, leaks, parseProbe, runProbe } from "../helpers/sandbox-probe.js";
import { ensureTestUser, ROOT, type SandboxUser } from "../helpers/sandbox-user.js";
import { holdsWithin } from "../helpers/wait.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root", "userns");

// Network: with --no-network the sandbox has loopback only and no route anywhere (also a shell that joins it
// with --enter); with network it reaches outside addresses through the user-mode helper but never the host's
// loopback (the manager's API, local dev servers), neither at 127.0.0.1 nor via the gateway address, nor the
// host's other addresses, behind which every service listening on 0.0.0.0 sits. Host Unix sockets (a manager
// socket in /tmp, abstract sockets) are out of reach either way.

const users: [string, () => SandboxUser][] = [
  ["root", () => ROOT],
  ["unprivileged user", ensureTestUser],
];

const WELL_KNOWN_SOCKETS = [
  "/run/dbus/system_bus_socket",
  "/run/systemd/private",
  "/run/systemd/notify",
  "/var/run/docker.sock",
  "/run/containerd/containerd.sock",
  "/var/run/libvirt/libvirt-sock",
  "/run/user/0/bus",
  "/run/user/1000/bus",
];

const fixtures = useSandboxFixture();
const resources: HostResource[] = [];
afterEach(async () => {
  await closeAll(resources.splice(0));
});

async function track<T extends HostResource>(r: Promise<T>): Promise<T> {
  const v = await r;
  resources.push(v);
  return v;
}

/**
 * Host-side targets: servers on loopback and on all addresses, an outside machine (a peer in a network namespace
 * of its own, which also gives the host one more address), sockets.
 */
async function hostTargets(f: SandboxFixture) {
  const loopback = await track(startHttpServer("127.0.0.1"));
  const loopback6 = await track(startHttpServer("::1"));
  const any = await track(startHttpServer("0.0.0.0"));
  const any6 = await track(startHttpServer("::"));
  const peer = await track(startEgressPeer());
  const udpLoopback = await track(startUdpListener("127.0.0.1"));
  const managerSocket = `/tmp/csbx-manager-${f.token}.sock`;
  await track(startUnixServer(managerSocket));
  const outsideSocket = path.join(f.outside, "api.sock");
  await track(startUnixServer(outsideSocket));
  await track(startUnixServer(`csbx-escape-${f.token}`, true));
  const { addresses, addresses6, gateway } = await hostAddresses();
  const http = (name: string, host: string, s: { port: number; token: string }) => ({
    name,
    host,
    port: s.port,
    token: s.token,
  });
  return {
    loopback,
    peer,
    udpReceived: () => [...udpLoopback.received, ...peer.udp.received()],
    config: {
      loopbackTargets: [
        http("host-loopback", "127.0.0.1", loopback),
        http("host-loopback-any", "127.0.0.1", any),
        http("host-loopback-ipv6", "::1", loopback6),
        ...(gateway
          ? [http("gateway-to-loopback", gateway, loopback), http("gateway-any", gateway, any)]
          : []),
        ...addresses.map((a) => http(`host-address-${a}-to-loopback`, a, loopback)),
      ],
      // The peer link's host end is among the addresses: the host's newest address, as a VPN's would be.
      hostAnyTargets: [
        ...addresses.map((a) => http(`host-address-${a}`, a, any)),
        ...addresses6.map((a) => http(`host-address-${a}`, a, any6)),
      ],
      egressTarget: { name: "egress", host: peer.address, port: peer.http.port, token: peer.http.token },
      udpTargets: [
        { name: "host-loopback", host: "127.0.0.1", port: udpLoopback.port },
        { name: "egress", host: peer.address, port: peer.udp.port },
      ],
      unixTargets: [
        { name: "manager-socket", path: managerSocket },
        { name: "outside-socket", path: outsideSocket },
        { name: "abstract", abstract: `csbx-escape-${f.token}` },
        // Well-known host daemons' sockets, where this host has them.
        ...WELL_KNOWN_SOCKETS.filter((p) => existsSync(p)).map((p) => ({ name: `host:${p}`, path: p })),
      ],
    },
  };
}

describe.skipIf(missing).each(users)("network, as %s", (_label, user) => {
  test("--no-network: loopback only, no route, nothing on the host reachable", async () => {
    const fx = await fixtures.create(user());
    const t = await hostTargets(fx);
    const cfg = {
      httpTargets: [...t.config.loopbackTargets, ...t.config.hostAnyTargets, t.config.egressTarget],
      udpTargets: t.config.udpTargets,
      unixTargets: t.config.unixTargets,
      connectTimeout: 2,
    };
    const probe = await runProbe(fx, ["--new", "--no-network"], cfg, ["network", "unix"]);
    const attempts = probe.results.filter((r) => r.name !== "probe-done");
    expect(attempts.length, probe.describe()).toBeGreaterThanOrEqual(cfg.httpTargets.length + 5);
    // sendto may "succeed" into a void; what matters is that nothing arrives.
    expect.soft(leaks(attempts.filter((r) => !r.name.startsWith("udp:"))), probe.describe()).toBe("");
    expect(t.udpReceived(), probe.describe()).toEqual([]);
  });

  test("network on: outside reachable; host loopback, the host's other addresses and host sockets not", async () => {
    const fx = await fixtures.create(user());
    const t = await hostTargets(fx);
    expect(t.config.hostAnyTargets.map((h) => h.host)).toContain(t.peer.hostAddress);
    const cfg = {
      httpTargets: [...t.config.loopbackTargets, ...t.config.hostAnyTargets, t.config.egressTarget],
      udpTargets: t.config.udpTargets.filter((u) => u.name === "host-loopback"),
      unixTargets: t.config.unixTargets,
      connectTimeout: 3,
    };
    const probe = await runProbe(fx, ["--new"], cfg, ["network", "unix"]);
    // Positive side first: without a working egress the blocked checks below would prove nothing.
    expect(probe.byName("http:egress"), probe.describe()).toMatchObject({ blocked: false });
    const mustBlock = probe.results.filter(
      (r) => /^(http|unix|tcp):/.test(r.name) && r.name !== "http:egress",
    );
    expect(mustBlock.length, probe.describe()).toBe(
      t.config.loopbackTargets.length + t.config.hostAnyTargets.length + t.config.unixTargets.length,
    );
    expect.soft(leaks(mustBlock), probe.describe()).toBe("");
    expect(t.udpReceived(), probe.describe()).toEqual([]);
  });

  test("--enter joins the sandbox's network namespace: no network there either", async () => {
    const fx = await fixtures.create(user());
    const f = fx;
    const t = await hostTargets(f);
    // A live, registered sandbox without network, kept alive by its shell.
    const sleepArg = `120.${Date.now() % 1_000_000}`;
    const live = runLauncher(f, ["--no-network", "--shell", f.project, "--", "-c", `sleep ${sleepArg}`], {
      timeoutMs: 100_000,
    });
    // Concurrent first launches racing on the state dir are covered in escape-lifecycle; here --enter starts
    // polling only once the live sandbox's sleep is running.
    let liveEnded = false;
    void live.then(() => {
      liveEnded = true;
    });
    await holdsWithin(
      async () =>
        liveEnded || (await findProcesses(`sleep ${sleepArg}`)).some((p) => p.cmdline.startsWith("sleep ")),
      20_000,
    );
    if (liveEnded) expect.fail(`the live sandbox ended early:\n${describeRun(await live)}`);
    let last = "";
    const joined = await holdsWithin(
      async () => {
        const r = await runLauncher(f, ["--enter", f.project, "--", "-c", "true"], { timeoutMs: 10_000 });
        last = describeRun(r);
        return r.exitCode === 0;
      },
      20_000,
      200,
    );
    if (!joined) {
      await runLauncher(f, ["--stop", f.project]);
      const ended = await live;
      expect.fail(
        `could not --enter the live sandbox; last attempt:\n${last}\nlive sandbox:\n${describeRun(ended)}`,
      );
    }
    const cfg = {
      httpTargets: [...t.config.loopbackTargets, ...t.config.hostAnyTargets, t.config.egressTarget],
      unixTargets: t.config.unixTargets,
      connectTimeout: 2,
    };
    const bashArgs = await installProbe(f, cfg, ["network", "unix"], "enter");
    // No --no-network here: the joined shell must inherit the sandbox's namespace, not the caller's choice.
    const r = await runLauncher(f, ["--enter", f.project, "--", ...bashArgs]);
    const results = parseProbe(String(r.stdout));
    expect(
      results.some((x) => x.name === "probe-done"),
      describeRun(r),
    ).toBe(true);
    expect.soft(leaks(results), describeRun(r)).toBe("");
    const stop = await runLauncher(f, ["--stop", f.project]);
    expect(stop.exitCode, describeRun(stop)).toBe(0);
    const ended = await live;
    expect(ended.timedOut, describeRun(ended)).toBe(false);
  });

  test("without iproute2 to shut the host's other addresses out, a sandbox with network does not start", async () => {
    const fx = await fixtures.create(user());
    const bin = await pathWithout(fx.root, ["ip"]);
    const run = await runLauncher(fx, ["--new", "--shell", fx.project, "--", "-c", "echo started"], {
      env: { PATH: bin },
    });
    expect(run.exitCode, describeRun(run)).not.toBe(0);
    expect(String(run.stdout)).toBe("");
    expect(String(run.stderr), describeRun(run)).toMatch(/iproute2.*--no-network/);
    const offline = await runLauncher(
      fx,
      ["--new", "--no-network", "--shell", fx.project, "--", "-c", "echo started"],
      {
        env: { PATH: bin },
      },
    );
    expect(String(offline.stdout), describeRun(offline)).toBe("started\n");
  });

  test("on a host without pasta or slirp4netns, a sandbox with network never falls back to the host's", async () => {
    const fx = await fixtures.create(user());
    const t = await hostTargets(fx);
    const cfg = {
      httpTargets: t.config.loopbackTargets,
      unixTargets: t.config.unixTargets,
      connectTimeout: 2,
    };
    const bin = await pathWithout(fx.root, ["pasta", "passt", "slirp4netns"]);
    const probe = await runProbe(fx, ["--new"], cfg, ["network", "unix"], { env: { PATH: bin } });
    if (!probe.results.some((r) => r.name === "probe-done")) {
      // Refusing to start is fine, if it says what is missing.
      expect(probe.run.exitCode, probe.describe()).not.toBe(0);
      expect(String(probe.run.stderr), probe.describe()).toMatch(/pasta|slirp4netns|--no-network/);
      return;
    }
    const attacks = probe.results.filter((r) => /^(http|unix):/.test(r.name));
    expect(attacks.length, probe.describe()).toBe(cfg.httpTargets.length + cfg.unixTargets.length);
    expect(leaks(attacks), probe.describe()).toBe("");
  });
});
