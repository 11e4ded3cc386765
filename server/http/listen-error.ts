import { describeListen, type ListenAddress } from "../config.js";

const EXPLANATIONS: Readonly<Record<string, string>> = {
  EADDRINUSE:
    "the address is already in use (another manager, or another program); pick another MANAGER_LISTEN",
  EADDRNOTAVAIL: "no network interface of this machine has that address",
  ENOENT: "the socket's directory does not exist; create it first",
  ENOTDIR: "a component of the socket path is not a directory",
  EROFS: "the socket's directory is on a read-only file system",
};

/** Why the daemon could not listen, in words, keeping the errno code for searches: `EADDRINUSE: …`. */
export function listenError(listen: ListenAddress, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const explanation =
    code === "EACCES"
      ? listen.kind === "unix"
        ? "permission denied: the manager cannot create the socket in that directory"
        : "permission denied: ports below 1024 need privileges"
      : code === undefined
        ? undefined
        : EXPLANATIONS[code];
  const why = code === undefined ? String(err) : `${code}: ${explanation ?? (err as Error).message}`;
  return new Error(`cannot listen on ${describeListen(listen)}: ${why}`, { cause: err });
}
