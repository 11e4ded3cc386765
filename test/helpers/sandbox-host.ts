import { randomBytes } from "node:crypto";
import dgram from "node:dgram";
import { chmod } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import { execa, type ResultPromise } from "execa";

/** Something a test started on the host that afterAll must stop. */
export interface HostResource {
  close(): Promise<void>;
}

export interface HostHttpServer extends HostResource {
  host: string;
  port: number;
  /** In every response body: the probe counts an answer as "reached" only if it carries this. */
  token: string;
}

/** An HTTP server like a user's dev server or the manager's API, listening on `host`. */
export async function startHttpServer(host: string): Promise<HostHttpServer> {
  const token = `host-http-${randomBytes(8).toString("hex")}`;
  const server = http.createServer((_req, res) => {
    res.setHeader("content-type", "text/plain");
    res.end(`${token}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port: 0 }, resolve);
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    host,
    port,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface HostUdpListener extends HostResource {
  host: string;
  port: number;
  received: string[];
}

export async function startUdpListener(host: string): Promise<HostUdpListener> {
  const sock = dgram.createSocket("udp4");
  const received: string[] = [];
  sock.on("message", (m) => received.push(m.toString()));
  await new Promise<void>((resolve, reject) => {
    sock.once("error", reject);
    sock.bind(0, host, resolve);
  });
  return {
    host,
    port: sock.address().port,
    received,
    close: () => new Promise<void>((resolve) => sock.close(() => resolve())),
  };
}

/** A Unix socket server at a filesystem path, or in the abstract namespace when `abstract` is true. */
export async function startUnixServer(name: string, abstract = false): Promise<HostResource> {
  const server = net.createServer((s) => s.end("host-unix\n"));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(abstract ? `\0${name}` : name, resolve);
  });
  // World-connectable, so for the unprivileged test user only the sandbox stands between it and the socket.
  if (!abstract) await chmod(name, 0o777);
  return { close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

export interface HostProcess extends HostResource {
  pid: number;
  /** A string only this process has in its argv, for finding it in a /proc listing. */
  marker: string;
  alive(): boolean;
}

/** A host process the sandbox must neither see nor signal; its environment holds `secret`. */
export async function startHostSleeper(secret: string): Promise<HostProcess> {
  // sleep takes fractional seconds, so a random fraction makes an argv no other process has.
  const marker = `86400.${Math.floor(Math.random() * 1e9)}`;
  const child: ResultPromise = execa("sleep", [marker], {
    env: { AWS_SECRET_ACCESS_KEY: secret },
    reject: false,
    detached: true,
    stdio: "ignore",
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error("could not start the host sleep process");
  return {
    pid,
    marker,
    alive: () => child.exitCode === null && child.signalCode === null,
    close: async () => {
      child.kill("SIGKILL");
      await child;
    },
  };
}

export interface EgressPeer extends HostResource {
  /** The peer's address: another machine as far as the host's network stack is concerned. */
  address: string;
  /** The host's own end of the link to it: one more address of the host. */
  hostAddress: string;
  /** An HTTP server on the peer; every answer carries the token. */
  http: { port: number; token: string };
  /** A UDP listener on the peer, and the messages it received so far. */
  udp: { port: number; received(): string[] };
}

// Runs inside the peer's network namespace: an HTTP server and a UDP listener on ADDRESS; prints their ports
// as one JSON line, then one line per UDP message.
const PEER_SERVER = `
const http = require("node:http"), dgram = require("node:dgram");
const [address, token] = process.argv.slice(1);
const server = http.createServer((_q, r) => r.end(token + "\\n"));
const udp = dgram.createSocket("udp4");
udp.on("message", (m) => process.stdout.write("udp " + JSON.stringify(m.toString()) + "\\n"));
server.listen(0, address, () => udp.bind(0, address, () =>
  process.stdout.write(JSON.stringify({ http: server.address().port, udp: udp.address().port }) + "\\n")));
`;

/**
 * Another machine on a link of its own: a network namespace joined to the host by a veth pair, with addresses
 * from the benchmarking range 198.18.0.0/15. A sandbox with network reaches it through the user-mode network
 * helper like any outside address, so it stands in for "the internet" without depending on it; the host's end
 * of the link is one more host address, which the sandbox must not reach. Needs root.
 */
export async function startEgressPeer(): Promise<EgressPeer> {
  const id = randomBytes(3).toString("hex");
  const ns = `csbx-peer-${id}`;
  const hostIf = `csbxh${id}`;
  const peerIf = `csbxp${id}`;
  const net = `198.18.${1 + Math.floor(Math.random() * 250)}.${4 * Math.floor(Math.random() * 63)}`;
  const base = net.split(".").map(Number);
  const at = (n: number) => `${base[0]}.${base[1]}.${base[2]}.${(base[3] ?? 0) + n}`;
  const hostAddress = at(1);
  const address = at(2);
  const token = `peer-http-${randomBytes(8).toString("hex")}`;
  const cleanup = async () => {
    await execa("ip", ["netns", "delete", ns], { reject: false });
    await execa("ip", ["link", "delete", hostIf], { reject: false });
  };
  try {
    await execa("ip", ["netns", "add", ns]);
    await execa("ip", ["link", "add", hostIf, "type", "veth", "peer", "name", peerIf, "netns", ns]);
    await execa("ip", ["addr", "add", `${hostAddress}/30`, "dev", hostIf]);
    await execa("ip", ["link", "set", hostIf, "up"]);
    await execa("ip", ["-n", ns, "addr", "add", `${address}/30`, "dev", peerIf]);
    await execa("ip", ["-n", ns, "link", "set", peerIf, "up"]);
    await execa("ip", ["-n", ns, "link", "set", "lo", "up"]);
  } catch (err) {
    await cleanup();
    throw err;
  }
  const child = execa("ip", ["netns", "exec", ns, process.execPath, "-e", PEER_SERVER, address, token], {
    reject: false,
    stdin: "ignore",
    stderr: "inherit",
  });
  const received: string[] = [];
  const ports = await new Promise<{ http: number; udp: number }>((resolve, reject) => {
    let buffer = "";
    let ready = false;
    child.stdout?.on("data", (d: Buffer) => {
      buffer += d.toString();
      for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (!ready) {
          ready = true;
          resolve(JSON.parse(line) as { http: number; udp: number });
        } else if (line.startsWith("udp ")) {
          received.push(JSON.parse(line.slice(4)) as string);
        }
      }
    });
    void child.then((r) => reject(new Error(`the egress peer exited before it listened: ${r.exitCode}`)));
  }).catch(async (err) => {
    await cleanup();
    throw err;
  });
  return {
    address,
    hostAddress,
    http: { port: ports.http, token },
    udp: { port: ports.udp, received: () => [...received] },
    close: async () => {
      child.kill("SIGKILL");
      await child;
      await cleanup();
    },
  };
}

/**
 * The host's non-loopback addresses and IPv4 default gateway (from /proc/net/route). IPv6 link-local addresses
 * come as `fe80::…%*`: the probe tries them through every interface the sandbox has.
 */
export async function hostAddresses(): Promise<{
  addresses: string[];
  addresses6: string[];
  gateway: string | undefined;
}> {
  const { networkInterfaces } = await import("node:os");
  const external = Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && !a.internal) as { address: string; family: string }[];
  const addresses = external.filter((a) => a.family === "IPv4").map((a) => a.address);
  const addresses6 = [
    ...new Set(
      external
        .filter((a) => a.family === "IPv6")
        .map((a) => (a.address.toLowerCase().startsWith("fe80:") ? `${a.address}%*` : a.address)),
    ),
  ];
  const { readFile } = await import("node:fs/promises");
  const route = await readFile("/proc/net/route", "utf8");
  let gateway: string | undefined;
  for (const line of route.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === "00000000" && f[2] && f[2] !== "00000000") {
      const g = Buffer.from(f[2], "hex");
      gateway = [g[3], g[2], g[1], g[0]].join(".");
    }
  }
  return { addresses, addresses6, gateway };
}

/** Closes everything, continuing past failures so one bad close cannot leak the rest. */
export async function closeAll(resources: (HostResource | undefined)[]): Promise<void> {
  for (const r of resources.reverse()) {
    try {
      await r?.close();
    } catch {
      // keep closing the others
    }
  }
}
