import { readFile } from "node:fs/promises";

/** /proc/net/tcp's code for an established connection. */
export const TCP_ESTABLISHED = "01";

/**
 * The TCP state (hex, as /proc/net/tcp shows it) of the server's end of a loopback connection, found by its two
 * ports; undefined once that end is gone. A client that stops reading cannot see the server close its end (the
 * FIN waits behind unread bytes), so tests look here instead.
 */
export async function serverSideState(serverPort: number, clientPort: number): Promise<string | undefined> {
  const hexPort = (port: number) => port.toString(16).toUpperCase().padStart(4, "0");
  for (const line of (await readFile("/proc/net/tcp", "utf8")).split("\n").slice(1)) {
    const [, local, remote, state] = line.trim().split(/\s+/);
    if (local?.endsWith(`:${hexPort(serverPort)}`) && remote?.endsWith(`:${hexPort(clientPort)}`))
      return state;
  }
  return undefined;
}
