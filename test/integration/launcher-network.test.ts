import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { execa } from "execa";
import { afterEach, describe, expect, test } from "vitest";
import {
  createLauncherFixture,
  describeRun,
  IDENTITIES,
  type LauncherFixture,
  launch,
  shellOut,
  startLive,
} from "./launcher-harness.js";

// Network on: the outside is reachable through pasta, the host's loopback is not. Network off: only `lo`.
// "Outside" is an address added to the host for this test (no internet needed): it is not loopback, so
// traffic to it leaves the sandbox's namespace through pasta like traffic to any remote host would.

let fx: LauncherFixture | undefined;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await fx?.cleanup();
  fx = undefined;
});

async function serve(host: string): Promise<{ url: string }> {
  const token = `reply-${Math.random().toString(36).slice(2)}`;
  const server: Server = createServer((_req, res) => res.end(token));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => resolve());
  });
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  return { url: `http://${host}:${port}/` };
}

async function outsideAddress(): Promise<string> {
  const address = `198.19.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
  await execa("ip", ["addr", "add", `${address}/32`, "dev", "lo"]);
  cleanups.push(async () => {
    await execa("ip", ["addr", "del", `${address}/32`, "dev", "lo"], { reject: false });
  });
  return address;
}

const fetchScript = (url: string) => `curl -s --max-time 3 ${url} || echo unreachable`;

describe.each(IDENTITIES)("sandbox network, as %s", (_name, user) => {
  test("network on: an outside address answers, the host's 127.0.0.1 does not", async () => {
    fx = await createLauncherFixture(user());
    const outside = await serve(await outsideAddress());
    const loopback = await serve("127.0.0.1");
    const out = await shellOut(
      fx,
      ["--shell"],
      `${fetchScript(outside.url)}; echo; ${fetchScript(loopback.url)}`,
    );
    const [viaPasta, viaLoopback] = out.split("\n");
    expect(viaPasta).toMatch(/^reply-/);
    expect(viaLoopback).toBe("unreachable");
  });

  test("--no-network: only lo exists, nothing answers, and a joined shell sees the same", async () => {
    fx = await createLauncherFixture(user());
    const outside = await serve(await outsideAddress());
    const probe = `ip -o link | awk -F': ' '{print $2}' | tr '\\n' ' '; echo; ${fetchScript(outside.url)}`;
    const r = await launch(fx, ["--no-network", "--shell", fx.project, "--", "-c", probe]);
    expect(r.exitCode, describeRun(r)).toBe(0);
    expect(String(r.stdout)).toBe("lo \nunreachable\n");
    const { live } = await startLive(fx, ["--no-network"]);
    // The caller does not repeat --no-network: the joined shell still gets the sandbox's namespace.
    expect(await shellOut(fx, ["--enter"], probe)).toBe("lo \nunreachable");
    await launch(fx, ["--stop", fx.project]);
    await live;
  });
});
