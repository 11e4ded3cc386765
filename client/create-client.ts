import { type Client, Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { SandboxService } from "../gen/claude_sandbox/v1/sandbox_service_pb.js";

export type SandboxClient = Client<typeof SandboxService>;

export type SandboxClientOptions =
  | {
      /** Base URL of the manager, for example "http://127.0.0.1:3000". */
      baseUrl: string;
      /**
       * The token of a manager listening on TCP (the content of its MANAGER_TOKEN_FILE), sent as
       * `Authorization: Bearer <token>` with every call. Not needed through a tunnel to its Unix socket.
       */
      token?: string;
      socketPath?: undefined;
    }
  | {
      /** Path of the manager's Unix socket (by default `<state dir>/api.sock`). */
      socketPath: string;
      baseUrl?: undefined;
      token?: undefined;
    };

/**
 * A typed SandboxService client over the Connect protocol on HTTP/1.1. HTTP/1.1 rather than HTTP/2 so that a
 * short-lived process (the CLI) exits as soon as its calls are done instead of holding an idle session open.
 */
export function createSandboxClient(options: SandboxClientOptions): SandboxClient {
  const where = options.socketPath ?? options.baseUrl;
  const interceptors = [unreachableAsUnavailable(where)];
  if (options.token !== undefined) interceptors.push(bearer(options.token));
  const transport =
    options.socketPath !== undefined
      ? createConnectTransport({
          baseUrl: "http://localhost",
          httpVersion: "1.1",
          nodeOptions: { socketPath: options.socketPath },
          interceptors,
        })
      : createConnectTransport({ baseUrl: options.baseUrl, httpVersion: "1.1", interceptors });
  return createClient(SandboxService, transport);
}

function bearer(token: string): Interceptor {
  return (next) => (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
}

// connect-node reports a missing Unix socket (ENOENT) as `internal`; for a caller it means the same as a
// refused TCP connection: no manager is listening there. Say so, with the address, as `unavailable`. A socket
// the caller may not open (EACCES) is the manager's access control at work: `permission_denied`.
const UNREACHABLE = new Set(["ENOENT", "ECONNREFUSED"]);

function unreachableAsUnavailable(where: string): Interceptor {
  return (next) => async (req) => {
    try {
      return await next(req);
    } catch (err) {
      const cause = (err as { cause?: { code?: unknown } }).cause;
      const code = typeof cause?.code === "string" ? cause.code : undefined;
      if (err instanceof ConnectError && code === "EACCES") {
        throw new ConnectError(
          `permission denied opening ${where}: only the manager's own user, root and members of the socket's ` +
            "group may use it",
          Code.PermissionDenied,
          undefined,
          undefined,
          err,
        );
      }
      if (err instanceof ConnectError && code !== undefined && UNREACHABLE.has(code)) {
        throw new ConnectError(
          `no claude-sandbox-manager reachable at ${where} (${code}); is it running?`,
          Code.Unavailable,
          undefined,
          undefined,
          err,
        );
      }
      throw err;
    }
  };
}
