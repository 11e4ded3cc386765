import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import {
  describeRun,
  IDENTITIES,
  inSandbox,
  launch,
  shellOut,
  startLive,
  useLauncherFixture,
} from "../helpers/launcher-harness.js";
import { requires } from "../helpers/requires.js";
import { closeAll, type HostResource, startEgressPeer } from "../helpers/sandbox-host.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root", "userns");

// Network on: the outside is reachable through pasta, the host's loopback and its other addresses are not.
// Network off: only `lo`. "Outside" is a peer in a network namespace of its own, joined to the host by a veth
// pair (no internet needed): traffic to it leaves the sandbox through pasta like traffic to any remote host.

const fixtures = useLauncherFixture();
const cleanups: (() => Promise<void>)[] = [];
const peers: HostResource[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await closeAll(peers.splice(0));
});

async function serve(host: string): Promise<{ url: string }> {
  const token = `reply-${Math.random().toString(36).slice(2)}`;
  const server: Server = createServer((_req, res) => res.end(token));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => resolve());
  });
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  return { url: `http://${host}:${port}/` };
}

/** An outside machine's HTTP server (its answers carry `token`), and the host's own address on the link to it. */
async function outside(): Promise<{ url: string; token: string; hostAddress: string }> {
  const peer = await startEgressPeer();
  peers.push(peer);
  return {
    url: `http://${peer.address}:${peer.http.port}/`,
    token: peer.http.token,
    hostAddress: peer.hostAddress,
  };
}

const fetchScript = (url: string) => `curl -s --max-time 3 ${url} || echo unreachable`;

describe.skipIf(missing).each(IDENTITIES)("sandbox network, as %s", (_name, user) => {
  test("network on: an outside address answers; the host's 127.0.0.1 and its own other addresses do not", async () => {
    const fx = await fixtures.create(user());
    const remote = await outside();
    const loopback = await serve("127.0.0.1");
    // A dev server on all addresses, asked for at the host's address on the link to the outside machine.
    const any = await serve("0.0.0.0");
    const viaHostAddress = any.url.replace("0.0.0.0", remote.hostAddress);
    const out = await shellOut(
      fx,
      ["--shell"],
      [remote.url, loopback.url, viaHostAddress].map((u) => `${fetchScript(u)}; echo`).join("; "),
    );
    expect(out.split("\n").filter(Boolean)).toEqual([remote.token, "unreachable", "unreachable"]);
  });

  test("--no-network: only lo exists, nothing answers, and a joined shell sees the same", async () => {
    const fx = await fixtures.create(user());
    const remote = await outside();
    const probe = `ip -o link | awk -F': ' '{print $2}' | tr '\\n' ' '; echo; ${fetchScript(remote.url)}`;
    const r = await inSandbox(fx, probe, { flags: ["--no-network"] });
    expect(r.exitCode, describeRun(r)).toBe(0);
    expect(String(r.stdout)).toBe("lo \nunreachable\n");
    const { live } = await startLive(fx, ["--no-network"]);
    // The caller does not repeat --no-network: the joined shell still gets the sandbox's namespace.
    expect(await shellOut(fx, ["--enter"], probe)).toBe("lo \nunreachable");
    await launch(fx, ["--stop", fx.project]);
    await live;
  });
});
