// Browser-borne attacks on a loopback daemon. Binding 127.0.0.1 keeps the network out, but a web page open in
// the user's browser can still reach the port (directly, or through the ssh tunnel of `claude-remote ui`):
// - DNS rebinding: evil.example resolves to 127.0.0.1 and the page talks to us "same-origin"; the Host header
//   still says evil.example.
// - Cross-site requests: the page posts to http://127.0.0.1:3000 directly; the browser adds its Origin.
// Non-browser clients (the CLI, buf curl, grpcurl) send a loopback Host and no Origin, so they pass.
import { isLoopbackHost, type ListenAddress } from "../config.js";

export interface GuardedRequest {
  headers: Record<string, string | string[] | undefined>;
}

/** Returns why a request must be refused, or undefined to serve it. */
export type RequestGuard = (req: GuardedRequest) => string | undefined;

export function createRequestGuard(listen: ListenAddress): RequestGuard {
  // A TCP listener on a non-loopback address was opened on purpose (MANAGER_ALLOW_NON_LOOPBACK=1): any Host is
  // expected, and only cross-origin browser requests are refused.
  const exposed = listen.kind === "tcp" && !isLoopbackHost(listen.host);
  return (req) => {
    const host = header(req, "host") ?? header(req, ":authority");
    if (!exposed && host !== undefined && !isLoopbackHost(hostnameOf(host))) {
      return `Host ${JSON.stringify(host)} is not a loopback name; refusing a possible DNS rebinding attack`;
    }
    const origin = header(req, "origin");
    // "null" (sandboxed iframes, file: pages) does not parse as a URL and is refused with the rest.
    if (origin !== undefined && !originAllowed(origin, host, exposed)) {
      return `Origin ${JSON.stringify(origin)} may not call the manager; refusing a cross-site request`;
    }
    return undefined;
  };
}

function originAllowed(origin: string, host: string | undefined, exposed: boolean): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (exposed) return host !== undefined && url.host === host;
  return isLoopbackHost(url.hostname);
}

function header(req: GuardedRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The hostname of a Host header value: `[::1]:3000` → `::1`, `localhost:3000` → `localhost`. */
function hostnameOf(host: string): string {
  if (host.startsWith("[")) return host.slice(1, host.indexOf("]") === -1 ? undefined : host.indexOf("]"));
  const colon = host.lastIndexOf(":");
  return colon === -1 ? host : host.slice(0, colon);
}
