// Listening on a Unix socket path safely: only the daemon's user can connect until the socket has its group
// and mode 0660, its directories are ones no other user can change, a stale file left by a crashed manager is
// replaced, a live manager's socket is never stolen, and only our own socket is removed at exit.
import { chmod, chown, lstat, stat, unlink } from "node:fs/promises";
import { connect, type Server } from "node:net";
import { dirname } from "node:path";
import { ancestors } from "../tools/ancestors.js";
import { listenError } from "./listen-error.js";

export const SOCKET_MODE = 0o660;

export interface UnixSocketOptions {
  /** Group given the socket (its members may connect); default the daemon's group. */
  gid?: number;
}

/** Listens on `path`; resolves with the socket file's inode, the proof of ownership for removeOwnSocket. */
export async function listenUnixSocket(
  server: Server,
  path: string,
  options: UnixSocketOptions = {},
): Promise<number> {
  // libuv reports a missing directory as EACCES; look first so the message says what is wrong.
  const dir = dirname(path);
  const dirInfo = await stat(dir).catch((err: NodeJS.ErrnoException) => {
    throw listenError({ kind: "unix", path }, err);
  });
  if (!dirInfo.isDirectory())
    throw listenError({ kind: "unix", path }, Object.assign(new Error(dir), { code: "ENOTDIR" }));
  await checkDirectories(path);
  await clearStaleSocket(path);
  // The umask applies while bind() creates the file: 0600 until the group is set, so nobody the group was not
  // meant for (the daemon's own group, before chown) gets a moment to connect. bind() happens synchronously
  // inside listen().
  const previous = process.umask(0o177);
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
  const { ino } = await lstat(path);
  try {
    if (options.gid !== undefined && options.gid !== process.getegid?.()) await chown(path, -1, options.gid);
    await chmod(path, SOCKET_MODE);
  } catch (err) {
    await removeOwnSocket(path, ino);
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(
      `cannot give unix:${path} group ${options.gid}: ${code === "EPERM" ? "the daemon is neither root nor a member of that group" : String(err)}`,
      { cause: err },
    );
  }
  return ino;
}

/**
 * The first directory on the way to the socket that members of `gid` cannot pass (no search permission for
 * them), or undefined when they can reach it.
 */
export async function blockedFor(path: string, gid: number): Promise<string | undefined> {
  for (const dir of ancestors(dirname(path))) {
    const info = await stat(dir);
    const bits = info.gid === gid ? (info.mode >> 3) & 0o7 : info.mode & 0o7;
    if ((bits & 1) === 0) return dir;
  }
  return undefined;
}

// Whoever can rename or replace an entry on the way to the socket can put a socket of their own in its place and
// receive what clients send: every directory must belong to root or the daemon's user and be writable by no one
// else (a sticky one, like /tmp, lets nobody else rename what is ours).
async function checkDirectories(path: string): Promise<void> {
  const euid = process.geteuid?.() ?? 0;
  for (const dir of ancestors(dirname(path))) {
    const info = await stat(dir);
    const mode = (info.mode & 0o7777).toString(8).padStart(4, "0");
    if (info.uid !== 0 && info.uid !== euid) {
      throw new Error(
        `cannot listen on unix:${path}: ${dir} belongs to uid ${info.uid}, who could replace the socket; ` +
          "put the socket in a directory of root or of the daemon's user",
      );
    }
    if ((info.mode & 0o022) !== 0 && (info.mode & 0o1000) === 0) {
      throw new Error(
        `cannot listen on unix:${path}: ${dir} is writable by other users (mode ${mode}), who could replace ` +
          `the socket; chmod go-w ${dir} or put the socket elsewhere`,
      );
    }
  }
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
