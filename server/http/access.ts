// Who may use the manager, decided before any RPC or gateway code runs.
// - Unix socket: the kernel lets in who may write the socket file (mode 0660: its owner, its group, root); the
//   peer's credentials as the kernel recorded them at connect() are checked again here, so a socket or
//   directory whose mode was widened, or a descriptor handed on, gives nobody else a way in, and they name the
//   caller for the handlers.
// - TCP: every local user (and, with MANAGER_ALLOW_NON_LOOPBACK, the network) can reach a port, and nothing
//   tells them apart, so only requests carrying the token are served; their caller is the daemon's own user.
import { timingSafeEqual } from "node:crypto";
import type { Socket } from "node:net";
import { ownIdentity } from "../sandbox/project-access.js";
import { peerCredentials } from "../tools/peer-credentials.js";
import { cookieValue, TOKEN_COOKIE } from "./browser-login.js";
import { type Caller, tokenCaller } from "./caller.js";
import { digest } from "./token-digest.js";

/** What to answer a request that may not go on: Connect's error body, so Connect clients show the reason. */
export interface Refusal {
  status: 401 | 403;
  code: "unauthenticated" | "permission_denied";
  message: string;
}

/** What the access check reads of a request: HTTP/1.1 and HTTP/2 requests alike. */
export interface AccessRequest {
  headers: NodeJS.Dict<string | string[]>;
  socket: unknown;
}

export interface Access {
  /** Identifies the peer of a new connection (Unix socket); logs and remembers a refusal. */
  onConnection(socket: Socket): void;
  /** Why `req` must be refused, or undefined to serve it. */
  check(req: AccessRequest): Refusal | undefined;
  /** The caller of a request that passed check(). */
  callerOf(req: AccessRequest): Caller | undefined;
}

export type AccessOptions =
  | { kind: "unix"; where: string; socketGid: number; log: (line: string) => void }
  | { kind: "tcp"; token: string };

// Kept on the socket itself: HTTP/2 requests see their connection only through a proxy, which forwards this.
const PEER = Symbol("claude-sandbox peer");
type PeerState = { caller: Caller } | { refusal: Refusal };

export function createAccess(options: AccessOptions): Access {
  if (options.kind === "tcp") return tokenAccess(options.token);
  const { socketGid, where, log } = options;
  const own = ownIdentity();
  const allowed = `only its own user (uid ${own.uid}), root and members of group ${socketGid} may use it`;
  return {
    onConnection(socket) {
      let state: PeerState;
      try {
        const peer = peerCredentials(socket);
        const ok =
          peer.uid === own.uid || peer.uid === 0 || peer.gid === socketGid || peer.groups.includes(socketGid);
        const caller: Caller = {
          uid: peer.uid,
          gid: peer.gid,
          groups: peer.groups,
          pid: peer.pid,
          via: "unix-peer",
        };
        state = ok
          ? { caller }
          : {
              refusal: {
                status: 403,
                code: "permission_denied",
                message: `uid ${peer.uid} (pid ${peer.pid}) may not use this manager: ${allowed}`,
              },
            };
      } catch (err) {
        state = {
          refusal: {
            status: 403,
            code: "permission_denied",
            message: `the manager cannot tell who is connecting (${(err as Error).message}), so it refuses`,
          },
        };
      }
      if ("refusal" in state) log(`refused a connection on ${where}: ${state.refusal.message}`);
      (socket as unknown as Record<symbol, PeerState>)[PEER] = state;
    },
    check(req) {
      const state = peerState(req);
      if (state === undefined) {
        return { status: 403, code: "permission_denied", message: "the connection was not identified" };
      }
      return "refusal" in state ? state.refusal : undefined;
    },
    callerOf(req) {
      const state = peerState(req);
      return state !== undefined && "caller" in state ? state.caller : undefined;
    },
  };
}

function peerState(req: AccessRequest): PeerState | undefined {
  return (req.socket as unknown as Record<symbol, PeerState | undefined> | undefined)?.[PEER];
}

function tokenAccess(token: string): Access {
  const expected = digest(token);
  const caller = tokenCaller();
  const refusal = (message: string): Refusal => ({ status: 401, code: "unauthenticated", message });
  return {
    onConnection() {},
    check(req) {
      const raw = req.headers.authorization;
      const header = Array.isArray(raw) ? raw[0] : raw;
      if (header === undefined) {
        // A browser signed in at /login (server/http/browser-login.ts) carries the token as a cookie instead.
        const cookie = cookieValue(req, TOKEN_COOKIE);
        if (cookie !== undefined) {
          return timingSafeEqual(digest(cookie), expected)
            ? undefined
            : refusal("wrong token in the sign-in cookie");
        }
        return refusal(
          "this manager's TCP listener needs an Authorization: Bearer <token> header (the token in its " +
            "MANAGER_TOKEN_FILE), or, in a browser, signing in at /login",
        );
      }
      const match = /^Bearer +(\S+) *$/i.exec(header);
      // Compared as digests: equal lengths, and a constant-time comparison whatever was sent.
      if (match === null || !timingSafeEqual(digest(match[1] ?? ""), expected)) {
        return refusal("wrong token in the Authorization header");
      }
      return undefined;
    },
    callerOf: () => caller,
  };
}
