import { randomBytes } from "node:crypto";
import { execa } from "execa";

const COOKIE_PROTOCOL = "MIT-MAGIC-COOKIE-1";

/**
 * Writes a fresh authority file holding one random MIT-MAGIC-COOKIE-1, for Xvfb's `-auth` and the sandbox's
 * XAUTHORITY. The entry has the wildcard family and no display number, so clients match it whatever hostname
 * they see (a sandbox may have its own UTS namespace) and whichever display number the server ends up on.
 * Fed to `xauth nmerge` on stdin: the cookie never appears on a command line (visible in /proc/<pid>/cmdline).
 */
export async function writeAuthFile(xauthPath: string, file: string): Promise<void> {
  const cookie = randomBytes(16).toString("hex");
  const name = Buffer.from(COOKIE_PROTOCOL).toString("hex");
  // nlist format: family, then length+hex pairs for address, display number, protocol name and data.
  const line = `ffff 0000  0000  ${hexLength(COOKIE_PROTOCOL.length)} ${name} ${hexLength(16)} ${cookie}\n`;
  const result = await execa(xauthPath, ["-q", "-f", file, "nmerge", "-"], {
    input: line,
    reject: false,
    stdout: "ignore",
    stderr: "pipe",
    timeout: 10_000,
  });
  if (result.exitCode !== 0 || result.failed) {
    throw new Error(`xauth could not write ${file}: ${result.stderr.trim() || result.shortMessage}`);
  }
}

const hexLength = (n: number): string => n.toString(16).padStart(4, "0");
