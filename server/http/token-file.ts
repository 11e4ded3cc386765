// The TCP listener's bearer token, read once at start from MANAGER_TOKEN_FILE. A token in the daemon's
// environment or command line would be readable by other users (/proc/<pid>/environ of a root daemon to root
// only, but `ps e`, systemd units, shell history…), so only a file is accepted, and only one that no other user
// can read or replace, as ssh treats private keys.
import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { ConfigError } from "../config.js";

const VARIABLE = "MANAGER_TOKEN_FILE";
export const MIN_TOKEN_LENGTH = 32;
const MAX_FILE_BYTES = 4096;
// What an Authorization header can carry verbatim: visible ASCII, no spaces.
const TOKEN = /^[\x21-\x7e]+$/;

/** Reads and checks the token file; every problem is a ConfigError naming MANAGER_TOKEN_FILE. */
export async function readTokenFile(path: string): Promise<string> {
  const fail = (problem: string): never => {
    throw new ConfigError(VARIABLE, `${VARIABLE}=${JSON.stringify(path)}: ${problem}`);
  };
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    // O_NONBLOCK: a FIFO put there must not hang the start.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return fail(code === "ENOENT" ? "does not exist" : `cannot be read (${code})`);
  }
  try {
    // Checked on the open file, so what is checked is what is read.
    const info = await handle.stat();
    if (!info.isFile()) fail("is not a regular file");
    const euid = process.geteuid?.() ?? 0;
    if (info.uid !== euid && info.uid !== 0) {
      fail(`is owned by uid ${info.uid}; it must belong to the daemon's user (uid ${euid}) or root`);
    }
    if ((info.mode & 0o077) !== 0) {
      fail(
        `is accessible to other users (mode ${(info.mode & 0o777).toString(8).padStart(4, "0")}); chmod 600 it`,
      );
    }
    if (info.size > MAX_FILE_BYTES) fail(`is larger than ${MAX_FILE_BYTES} bytes; it must hold one token`);
    const token = (await handle.readFile("utf8")).trim();
    if (token.length < MIN_TOKEN_LENGTH || !TOKEN.test(token)) {
      fail(
        `must hold one token of at least ${MIN_TOKEN_LENGTH} visible ASCII characters without spaces, for ` +
          "example: (umask 077; head -c 32 /dev/urandom | base64 > FILE)",
      );
    }
    return token;
  } finally {
    await handle.close();
  }
}
