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

/**
 * Adds a /32 address from the benchmarking range 198.18.0.0/15 to the host's `lo`. A sandbox with network
 * reaches it through the user-mode network helper like any outside address, so it stands in for "the internet"
 * without depending on it (the sandbox's own 127.0.0.1 and the host's eth0 address are local inside).
 */
export async function addEgressAddress(): Promise<{ address: string } & HostResource> {
  const address = `198.18.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
  await execa("ip", ["addr", "add", `${address}/32`, "dev", "lo"]);
  return {
    address,
    close: async () => {
      await execa("ip", ["addr", "del", `${address}/32`, "dev", "lo"], { reject: false });
    },
  };
}

/** The host's non-loopback IPv4 addresses and default gateway (from /proc/net/route). */
export async function hostAddresses(): Promise<{ addresses: string[]; gateway: string | undefined }> {
  const { networkInterfaces } = await import("node:os");
  const addresses = Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && a.family === "IPv4" && !a.internal && !a.address.startsWith("198.18."))
    .map((a) => (a as { address: string }).address);
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
  return { addresses, gateway };
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
