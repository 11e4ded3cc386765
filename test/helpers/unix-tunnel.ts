import { connect, createServer, type Socket } from "node:net";

export interface UnixTunnel {
  /** The loopback port the tunnel listens on. */
  readonly port: number;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Stops listening and cuts every connection through it (as a dropped ssh tunnel would). */
  close(): Promise<void>;
  /** Cuts the connections through the tunnel but keeps listening (a network blip). */
  cut(): void;
}

/**
 * What `ssh -L <port>:<socket>` gives a laptop: a loopback TCP port whose connections reach the manager's Unix
 * socket as the tunnel's own user. Browsers and curl reach the gateway through it with no token, exactly as
 * through `claude-remote ui`.
 */
export async function openUnixTunnel(socketPath: string): Promise<UnixTunnel> {
  const open = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(socketPath);
    open.add(client);
    open.add(upstream);
    const drop = () => {
      open.delete(client);
      open.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0 }, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  const cut = () => {
    for (const socket of open) socket.destroy();
    open.clear();
  };
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    cut,
    close: () =>
      new Promise<void>((resolve) => {
        cut();
        server.close(() => resolve());
      }),
  };
}
