import { type Client, Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { SandboxService } from "../gen/claude_sandbox/v1/sandbox_service_pb.js";

export type SandboxClient = Client<typeof SandboxService>;

export type SandboxClientOptions =
  | {
      /** Base URL of the manager, for example "http://127.0.0.1:3000". */
      baseUrl: string;
      socketPath?: undefined;
    }
  | {
      /** Path of the manager's Unix socket (MANAGER_LISTEN=unix:/path). */
      socketPath: string;
      baseUrl?: undefined;
    };

/**
 * A typed SandboxService client over the Connect protocol on HTTP/1.1. HTTP/1.1 rather than HTTP/2 so that a
 * short-lived process (the CLI) exits as soon as its calls are done instead of holding an idle session open.
 */
export function createSandboxClient(options: SandboxClientOptions): SandboxClient {
  const where = options.socketPath ?? options.baseUrl;
  const interceptors = [unreachableAsUnavailable(where)];
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

// connect-node reports a missing Unix socket (ENOENT) as `internal`; for a caller it means the same as a
// refused TCP connection: no manager is listening there. Say so, with the address, as `unavailable`.
const UNREACHABLE = new Set(["ENOENT", "ECONNREFUSED", "EACCES"]);

function unreachableAsUnavailable(where: string): Interceptor {
  return (next) => async (req) => {
    try {
      return await next(req);
    } catch (err) {
      const cause = (err as { cause?: { code?: unknown } }).cause;
      if (err instanceof ConnectError && typeof cause?.code === "string" && UNREACHABLE.has(cause.code)) {
        throw new ConnectError(
          `no claude-sandbox-manager reachable at ${where} (${cause.code}); is it running?`,
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
