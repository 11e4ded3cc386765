import path from "node:path";
import type { Readable } from "node:stream";
import { execa, type ResultPromise } from "execa";
import { type SandboxUser, userCommand } from "./sandbox-user.js";
import { holdsWithin } from "./wait.js";

export interface SessionBus {
  /** DBUS_SESSION_BUS_ADDRESS for the host side. */
  address: string;
  socketPath: string;
  stop(): Promise<void>;
}

function firstLine(stream: Readable, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error("dbus-daemon printed no address")), timeoutMs);
    stream.on("data", (c: Buffer) => {
      buf += c.toString();
      const nl = buf.indexOf("\n");
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(buf.slice(0, nl).trim());
      }
    });
  });
}

/**
 * A private session bus owned by `owner`, with fake services holding well-known names (dbus-test-tool echo
 * answers every method call). A sandbox must reach only the names its proxy filter allows.
 */
export async function startSessionBus(owner: SandboxUser, dir: string, names: string[]): Promise<SessionBus> {
  const socketPath = path.join(dir, "session-bus");
  const children: ResultPromise[] = [];
  const stop = async () => {
    for (const c of children.reverse()) {
      c.kill("SIGKILL");
      await c;
    }
  };
  const [file, args] = userCommand(owner, "dbus-daemon", [
    "--session",
    "--nofork",
    "--print-address",
    `--address=unix:path=${socketPath}`,
  ]);
  const daemon = execa(file, args, {
    reject: false,
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(daemon);
  try {
    const address = await firstLine(daemon.stdout as Readable, 10_000);
    for (const name of names) {
      const [f, a] = userCommand(owner, "dbus-test-tool", ["echo", `--name=${name}`, "--session"]);
      children.push(
        execa(f, a, {
          env: { DBUS_SESSION_BUS_ADDRESS: address },
          reject: false,
          stdio: "ignore",
        }),
      );
    }
    // Ready when every fake service's name is owned on the bus.
    const ready = await holdsWithin(
      async () => {
        const r = await execa(
          "dbus-send",
          [
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.ListNames",
          ],
          {
            env: { DBUS_SESSION_BUS_ADDRESS: address },
            reject: false,
            ...(owner.uid ? { uid: owner.uid, gid: owner.gid } : {}),
          },
        );
        return names.every((n) => String(r.stdout).includes(`"${n}"`));
      },
      10_000,
      100,
    );
    if (!ready) throw new Error(`fake D-Bus services did not claim ${names.join(", ")}`);
    return { address, socketPath, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
