import { createServer } from "node:net";

/**
 * A TCP port that was free a moment ago on 127.0.0.1. The daemon takes its port from the environment, so it
 * cannot listen on port 0 and report back; a collision shows up as a clear EADDRINUSE start failure.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0 }, () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
