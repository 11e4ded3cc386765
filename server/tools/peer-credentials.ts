// Who is on the other end of an accepted Unix socket connection, as the kernel recorded it at connect()
// (SO_PEERCRED, SO_PEERGROUPS), through the small Node-API addon in server/native/ (built by `npm run build`).
import { createRequire } from "node:module";
import type { Socket } from "node:net";
import { join } from "node:path";
import { PACKAGE_ROOT } from "./package-root.js";

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
  /** Supplementary groups of the connecting process. */
  groups: number[];
}

type Addon = { peerCredentials(fd: number): PeerCredentials };

export const ADDON_PATH = join(PACKAGE_ROOT, "dist/native/peer-credentials.node");

let addon: Addon | undefined;

/**
 * Loads the addon; throws with what to do when it is missing or does not load, so a Unix listener refuses to
 * start rather than serve callers it cannot identify.
 */
export function loadPeerCredentials(): void {
  if (addon !== undefined) return;
  try {
    addon = createRequire(import.meta.url)(ADDON_PATH) as Addon;
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === "MODULE_NOT_FOUND";
    throw new Error(
      `cannot tell who connects to the Unix socket: the peer-credentials addon ${ADDON_PATH} ` +
        (missing ? "is missing" : `does not load (${(err as Error).message})`) +
        "; run npm run build (it needs gcc and libc6-dev: bash scripts/setup.sh installs them)",
      { cause: err },
    );
  }
}

/** The peer of an accepted Unix socket connection. Throws if the socket has no descriptor or no peer. */
export function peerCredentials(socket: Socket): PeerCredentials {
  loadPeerCredentials();
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== "number" || fd < 0) throw new Error("the connection has no file descriptor");
  return (addon as Addon).peerCredentials(fd);
}
