// Browser-borne attacks on a loopback daemon. Binding 127.0.0.1 keeps the network out, but a web page open in
// the user's browser can still reach the port (directly, or through the ssh tunnel of `claude-remote ui`):
// - DNS rebinding: evil.example resolves to 127.0.0.1 and the page talks to us "same-origin"; the Host header
//   still says evil.example.
// - Cross-site requests: the page posts to http://127.0.0.1:3000 directly; the browser adds its Origin. Another
//   local web server (a dev server on localhost:5173, say) is another origin too: the Origin must be exactly
//   the one the request is addressed to (scheme aside, host and port as in Host).
// - Requests a browser makes for another site without an Origin (old browsers, some navigations) still carry
//   Sec-Fetch-Site; one that changes something must say same-origin or none (typed in by the user).
// Non-browser clients (the CLI, curl, buf curl, grpcurl) send a loopback Host and neither header, so they pass.
// One guard for everything on the listener: RPCs, REST, pages and WebSocket upgrades.
import { isLoopbackHost, type ListenAddress } from "../config.js";

export interface GuardedRequest {
  headers: Record<string, string | string[] | undefined>;
  /** HTTP/1.1's method; HTTP/2 requests carry theirs as the `:method` header. */
  method?: string;
}

/** Returns why a request must be refused, or undefined to serve it. */
export type RequestGuard = (req: GuardedRequest) => string | undefined;

export interface RequestGuardOptions {
  /** Names besides the loopback ones by which users reach the manager (MANAGER_HOSTNAMES), lowercase. */
  hostnames?: readonly string[];
}

// Methods a browser may send cross-site without a preflight and that change nothing here.
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export function createRequestGuard(listen: ListenAddress, options: RequestGuardOptions = {}): RequestGuard {
  // A TCP listener on a non-loopback address was opened on purpose (MANAGER_ALLOW_NON_LOOPBACK=1): any Host is
  // expected, and only cross-origin browser requests are refused.
  const exposed = listen.kind === "tcp" && !isLoopbackHost(listen.host);
  const named = new Set((options.hostnames ?? []).map((name) => name.toLowerCase()));
  const ownName = (hostname: string) => isLoopbackHost(hostname) || named.has(hostname.toLowerCase());
  return (req) => {
    const host = header(req, "host") ?? header(req, ":authority");
    if (!exposed && host !== undefined && !ownName(hostnameOf(host))) {
      return `Host ${JSON.stringify(host)} is not a name of this manager; refusing a possible DNS rebinding attack`;
    }
    const origin = header(req, "origin");
    // "null" (sandboxed iframes, file: pages) does not parse as a URL and is refused with the rest.
    if (origin !== undefined && !sameOrigin(origin, host)) {
      return `Origin ${JSON.stringify(origin)} is not this manager's own (Host ${JSON.stringify(host ?? "")}); refusing a cross-site request`;
    }
    const method = (req.method ?? header(req, ":method") ?? "GET").toUpperCase();
    const site = header(req, "sec-fetch-site");
    if (!SAFE_METHODS.has(method) && site !== undefined && site !== "same-origin" && site !== "none") {
      return `a ${method} from another site (Sec-Fetch-Site: ${site}) may not change anything; refusing a cross-site request`;
    }
    return undefined;
  };
}

function sameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return false;
  // URL.host drops the scheme's default port, as browsers do in Origin; Host may still name it.
  return url.host === normalHost(host, url.protocol);
}

function normalHost(host: string, protocol: string): string {
  const lower = host.toLowerCase();
  const defaultPort = protocol === "https:" ? ":443" : ":80";
  return lower.endsWith(defaultPort) ? lower.slice(0, -defaultPort.length) : lower;
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
