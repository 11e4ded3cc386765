// SandboxService handlers: a thin translation between the generated messages and the domain (SandboxManager,
// LogHub). Validation that only concerns the wire (enum UNSPECIFIED, 64-bit offsets, size limits) happens
// here; everything about sandboxes is the manager's.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  Backend,
  LogEndReason,
  type SandboxService,
  type TailLogsResponseSchema,
  type WatchSandboxesResponseSchema,
} from "../../gen/claude_sandbox/v1/sandbox_service_pb.js";
import type { LogHub } from "../logs/log-hub.js";
import { resolveReadLimit } from "../logs/log-limits.js";
import type { SandboxManager } from "../sandbox/sandbox-manager.js";
import { toConnectError } from "./to-connect-error.js";
import { backendFromMessage, logEndReasonToMessage, toSandboxMessage } from "./to-sandbox-message.js";
import { watchSandboxes } from "./watch-sandboxes.js";

export const DEFAULT_WATCH_KEEPALIVE_MS = 15_000;

export interface SandboxServiceDeps {
  manager: SandboxManager;
  logHub: LogHub;
  /** Receives errors the client only sees as a generic Internal error; the daemon logs them. */
  reportError: (rpc: string, err: unknown) => void;
  /** Aborted when the daemon shuts down: open log tails then end with LogEnd SHUTDOWN. */
  shutdownSignal?: AbortSignal;
  /** Interval of keepalives on a quiet WatchSandboxes stream. */
  watchKeepaliveMs?: number;
}

type TailLogsResponseInit = MessageInitShape<typeof TailLogsResponseSchema>;
type WatchResponseInit = MessageInitShape<typeof WatchSandboxesResponseSchema>;

export function createSandboxService(deps: SandboxServiceDeps): ServiceImpl<typeof SandboxService> {
  const { manager, logHub } = deps;
  const tmuxSocket = () => manager.tmuxSocket;
  const guard = async <T>(rpc: string, fn: () => Promise<T> | T): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw toConnectError(err, (e) => deps.reportError(rpc, e));
    }
  };

  return {
    createSandbox: (req) =>
      guard("CreateSandbox", async () => {
        const backend = backendFromMessage(req.backend);
        if (backend === undefined) {
          throw new ConnectError(
            req.backend === Backend.UNSPECIFIED
              ? "backend: must be set (BACKEND_BUBBLEWRAP, BACKEND_CONTAINER or BACKEND_VM)"
              : `backend: unknown value ${req.backend}`,
            Code.InvalidArgument,
          );
        }
        const record = await manager.create({
          name: req.name,
          backend,
          projectDir: req.projectDir,
          network: req.network ?? true,
          shell: req.shell,
          agentArgs: [...req.agentArgs],
        });
        return { sandbox: toSandboxMessage(record, tmuxSocket()) };
      }),

    listSandboxes: () =>
      guard("ListSandboxes", () => ({
        sandboxes: manager.list().map((r) => toSandboxMessage(r, tmuxSocket())),
      })),

    getSandbox: (req) =>
      guard("GetSandbox", () => ({ sandbox: toSandboxMessage(manager.get(req.id), tmuxSocket()) })),

    stopSandbox: (req) =>
      guard("StopSandbox", async () => ({
        sandbox: toSandboxMessage(await manager.stop(req.id), tmuxSocket()),
      })),

    deleteSandbox: (req) =>
      guard("DeleteSandbox", async () => {
        await manager.delete(req.id);
        return {};
      }),

    getLogs: (req) =>
      guard("GetLogs", async () => {
        const limit = resolveReadLimit(req.limit);
        const offset = req.offset === undefined ? undefined : toSafeOffset("offset", req.offset);
        manager.get(req.id);
        const range = await logHub.read(manager.logPath(req.id), { offset, limit });
        return { data: range.data, offset: BigInt(range.offset), size: BigInt(range.size) };
      }),

    async *tailLogs(req, ctx): AsyncGenerator<TailLogsResponseInit> {
      let position = 0;
      try {
        const fromOffset =
          req.fromOffset === undefined ? undefined : toSafeOffset("from_offset", req.fromOffset);
        manager.get(req.id);
        position = fromOffset ?? 0;
        const events = logHub.tail(req.id, manager.logPath(req.id), {
          backlogLines: req.backlogLines,
          fromOffset,
          signal: ctx.signal,
        });
        for await (const event of events) {
          if (event.type === "chunk") {
            position = event.offset + event.data.length;
            yield {
              event: {
                case: "chunk",
                value: { offset: BigInt(event.offset), data: event.data, nextOffset: BigInt(position) },
              },
            };
          } else if (event.type === "keepalive") {
            position = event.offset;
            yield { event: { case: "keepalive", value: { offset: BigInt(event.offset) } } };
          } else {
            yield {
              event: {
                case: "end",
                value: {
                  reason: logEndReasonToMessage(event.reason),
                  message: event.message,
                  offset: BigInt(event.offset),
                },
              },
            };
            return;
          }
        }
      } catch (err) {
        // A hub may throw its signal's abort reason; that is the end of the stream, not a failure.
        if (!ctx.signal.aborted) throw toConnectError(err, (e) => deps.reportError("TailLogs", e));
      }
      // The hub stops quietly when our signal aborts. On shutdown the client still deserves the final message
      // that tells it to resume from where it got to.
      if (deps.shutdownSignal?.aborted) {
        yield {
          event: {
            case: "end",
            value: {
              reason: LogEndReason.SHUTDOWN,
              message: "manager shutting down; reconnect and resume from offset",
              offset: BigInt(position),
            },
          },
        };
      }
    },

    async *watchSandboxes(_req, ctx: HandlerContext): AsyncGenerator<WatchResponseInit> {
      try {
        yield* watchSandboxes(manager, ctx.signal, deps.watchKeepaliveMs ?? DEFAULT_WATCH_KEEPALIVE_MS);
      } catch (err) {
        throw toConnectError(err, (e) => deps.reportError("WatchSandboxes", e));
      }
    },

    getScreenshot: () => notYet("GetScreenshot", "screenshots"),
    getSandboxMetrics: () => notYet("GetSandboxMetrics", "Claude session metrics"),
    getSystemMetrics: () => notYet("GetSystemMetrics", "system metrics"),
  };
}

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

function toSafeOffset(field: string, value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(`${field}: ${value} is beyond any log's size`);
  return Number(value);
}

function notYet(rpc: string, what: string): never {
  throw new ConnectError(
    `${rpc} is not implemented yet: ${what} come with the observability work`,
    Code.Unimplemented,
  );
}
