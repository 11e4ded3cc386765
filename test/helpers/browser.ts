import { type Browser, chromium } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

export interface BrowserOptions {
  /** Chromium's --host-resolver-rules, e.g. "MAP rebind.test 127.0.0.1": names that resolve to loopback. */
  hostResolverRules?: string;
}

/**
 * Debian's Chromium, headless, driven by playwright-core (no downloaded browser). As root it runs without its
 * own sandbox, which refuses to start for root; the pages it loads are the test's own.
 */
export function launchBrowser(options: BrowserOptions = {}): Promise<Browser> {
  const args = ["--disable-gpu", "--disable-dev-shm-usage"];
  if (process.getuid?.() === 0) args.push("--no-sandbox");
  if (options.hostResolverRules !== undefined)
    args.push(`--host-resolver-rules=${options.hostResolverRules}`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args });
}
