import { randomBytes } from "node:crypto";
import { chown, rm } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { execa } from "execa";
import type { SandboxUser } from "./sandbox-user.js";

export interface XDisplay {
  /** ":N" */
  display: string;
  number: number;
  /** Cookie file readable by the owner; pass as XAUTHORITY. */
  xauthority: string;
  /** The MIT-MAGIC-COOKIE-1 value, hex. */
  cookie: string;
  pid: number;
  stop(): Promise<void>;
}

function readDisplayNumber(stream: Readable, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(
      () => reject(new Error(`Xvfb did not report a display within ${timeoutMs} ms`)),
      timeoutMs,
    );
    stream.on("data", (chunk: Buffer) => {
      buf += chunk.toString();
      const nl = buf.indexOf("\n");
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(Number(buf.slice(0, nl)));
      }
    });
    stream.once("end", () => {
      clearTimeout(timer);
      reject(new Error("Xvfb exited before reporting its display"));
    });
  });
}

/**
 * Starts Xvfb with access control on (a cookie, never -ac) and no TCP listener. -displayfd picks a free display
 * and reports it once the server accepts clients, so there is no polling and no race with other tests' displays.
 */
export async function startXvfb(owner: SandboxUser, dir: string, size = "1280x800x24"): Promise<XDisplay> {
  const xauthority = path.join(dir, `xauth-${randomBytes(4).toString("hex")}`);
  const cookie = randomBytes(16).toString("hex");
  // The server accepts every cookie in its -auth file whatever display it is listed for; clients look theirs up
  // by display number, which is only known after start, so the entry is added again below.
  await execa("xauth", ["-q", "-f", xauthority, "add", ":0", ".", cookie]);
  const child = execa(
    "Xvfb",
    ["-displayfd", "3", "-auth", xauthority, "-nolisten", "tcp", "-screen", "0", size],
    {
      stdio: ["ignore", "ignore", "pipe", "pipe"],
      detached: true,
      reject: false,
    },
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error("could not start Xvfb");
  const stop = async () => {
    try {
      process.kill(-pid, "SIGTERM");
    } catch {
      // already gone
    }
    await child;
    await rm(xauthority, { force: true });
  };
  try {
    const number = await readDisplayNumber(child.stdio[3] as Readable, 20_000);
    await execa("xauth", ["-q", "-f", xauthority, "add", `:${number}`, ".", cookie]);
    await chown(xauthority, owner.uid, owner.gid);
    return { display: `:${number}`, number, xauthority, cookie, pid, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
