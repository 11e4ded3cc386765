// Listening on a Unix socket path safely: created mode 0660 from the start, a stale file left by a crashed
// manager is replaced, a live manager's socket is never stolen, and only our own socket is removed at exit.
import { chmod, lstat, stat, unlink } from "node:fs/promises";
import { connect, type Server } from "node:net";
import { dirname } from "node:path";
import { listenError } from "./listen-error.js";

export const SOCKET_MODE = 0o660;

/** Listens on `path`; resolves with the socket file's inode, the proof of ownership for removeOwnSocket. */
export async function listenUnixSocket(server: Server, path: string): Promise<number> {
  // libuv reports a missing directory as EACCES; look first so the message says what is wrong.
  const dir = dirname(path);
  const dirInfo = await stat(dir).catch((err: NodeJS.ErrnoException) => {
    throw listenError({ kind: "unix", path }, err);
  });
  if (!dirInfo.isDirectory())
    throw listenError({ kind: "unix", path }, Object.assign(new Error(dir), { code: "ENOTDIR" }));
  await clearStaleSocket(path);
  // The umask applies while bind() creates the file, so the socket is never reachable with wider permissions,
  // not even between bind and chmod. bind() happens synchronously inside listen().
  const previous = process.umask(0o117);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ path }, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    throw listenError({ kind: "unix", path }, err);
  } finally {
    process.umask(previous);
  }
  await chmod(path, SOCKET_MODE);
  return (await lstat(path)).ino;
}

/** Removes the socket file if it is still the one we created (another manager may have replaced it). */
export async function removeOwnSocket(path: string, inode: number): Promise<void> {
  try {
    if ((await lstat(path)).ino === inode) await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}

async function clearStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  if (!isSocket) {
    throw new Error(
      `cannot listen on unix:${path}: the path exists and is not a socket; remove it or pick another path`,
    );
  }
  if (await somebodyListens(path)) {
    throw new Error(
      `cannot listen on unix:${path}: another process (probably a running claude-sandbox-manager) is listening there`,
    );
  }
  await unlink(path);
}

function somebodyListens(path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", (err: NodeJS.ErrnoException) => {
      socket.destroy();
      if (err.code === "ECONNREFUSED") resolve(false);
      else
        reject(
          new Error(`cannot check whether unix:${path} is in use: ${err.code ?? err.message}`, {
            cause: err,
          }),
        );
    });
  });
}
