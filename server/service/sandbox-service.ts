// SandboxService handlers: a thin translation between the generated messages and the domain (SandboxManager,
// LogHub). Validation that only concerns the wire (enum UNSPECIFIED, 64-bit offsets, size limits) happens
// here; everything about sandboxes is the manager's.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  Backend,
  type SandboxService,
  type WatchSandboxesResponseSchema,
} from "../../gen/claude_sandbox/v1/sandbox_service_pb.js";
import type { ClaudeUsage } from "../claude-usage/claude-usage.js";
import { responseDeadlineKey } from "../http/response-deadline.js";
import type { LogHub } from "../logs/log-hub.js";
import { resolveReadLimit } from "../logs/log-limits.js";
import type { SystemSampler } from "../metrics/system-sampler.js";
import type { SandboxManager } from "../sandbox/sandbox-manager.js";
import type { ScreenshotCapturer } from "../screenshots/screenshot-capturer.js";
import { callerKey } from "./caller.js";
import { screenshotRequestFrom } from "./screenshot-request.js";
import { tailLogs } from "./tail-logs.js";
import { toConnectError } from "./to-connect-error.js";
import { toMetricsMessage } from "./to-metrics-message.js";
import { toSafeOffset } from "./to-safe-offset.js";
import { backendFromMessage, limitsFromMessage, toSandboxMessage } from "./to-sandbox-message.js";
import { toSystemMetricsMessage } from "./to-system-metrics-message.js";
import { watchSandboxes } from "./watch-sandboxes.js";
import { watchScreenshots } from "./watch-screenshots.js";

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
  /** The projects' Claude session metrics; without it GetSandboxMetrics is unimplemented. */
  claudeUsage?: ClaudeUsage;
  /** The host's sampled load, for GetSystemMetrics; without one that RPC answers `unavailable`. */
  systemMetrics?: SystemSampler;
  /** Takes the displays' screenshots; without one GetScreenshot answers unimplemented. */
  screenshots?: ScreenshotCapturer;
}

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
    createSandbox: (req, ctx) =>
      guard("CreateSandbox", async () => {
        // The project is checked as the caller; a request nobody vouched for (an in-process call that names
        // no caller) gets nothing rather than the daemon's own rights.
        const caller = ctx.values.get(callerKey);
        if (caller === undefined) {
          throw new ConnectError(
            "CreateSandbox needs to know who asks; this request carries no caller identity",
            Code.PermissionDenied,
          );
        }
        const backend = backendFromMessage(req.backend);
        if (backend === undefined) {
          throw new ConnectError(
            req.backend === Backend.UNSPECIFIED
              ? "backend: must be set (BACKEND_BUBBLEWRAP, BACKEND_CONTAINER or BACKEND_VM)"
              : `backend: unknown value ${req.backend}`,
            Code.InvalidArgument,
          );
        }
        const record = await manager.create(
          {
            name: req.name,
            backend,
            projectDir: req.projectDir,
            network: req.network ?? true,
            shell: req.shell,
            agentArgs: [...req.agentArgs],
            limits: limitsFromMessage(req.limits),
          },
          caller,
        );
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

    tailLogs: (req, ctx) => tailLogs(deps, req, ctx.signal, ctx.values.get(responseDeadlineKey)),

    async *watchSandboxes(_req, ctx: HandlerContext): AsyncGenerator<WatchResponseInit> {
      try {
        yield* watchSandboxes(manager, ctx.signal, deps.watchKeepaliveMs ?? DEFAULT_WATCH_KEEPALIVE_MS);
      } catch (err) {
        throw toConnectError(err, (e) => deps.reportError("WatchSandboxes", e));
      }
    },

    getScreenshot: (req) =>
      guard("GetScreenshot", async () => {
        const { screenshots } = deps;
        if (screenshots === undefined) notYet("GetScreenshot", "screenshots");
        const request = screenshotRequestFrom(req);
        const shot = await screenshots.latest(manager.get(req.id), request);
        return {
          image: shot.data,
          mimeType: shot.mimeType,
          width: shot.width,
          height: shot.height,
          capturedAt: timestampFromDate(shot.capturedAt),
        };
      }),
    async *watchScreenshots(req, ctx: HandlerContext) {
      try {
        const { screenshots } = deps;
        if (screenshots === undefined) notYet("WatchScreenshots", "screenshots");
        yield* watchScreenshots(manager, screenshots, req, ctx.signal);
      } catch (err) {
        throw toConnectError(err, (e) => deps.reportError("WatchScreenshots", e));
      }
    },
    getSandboxMetrics: (req) =>
      guard("GetSandboxMetrics", async () => {
        const { claudeUsage } = deps;
        if (claudeUsage === undefined) return notYet("GetSandboxMetrics", "Claude session metrics");
        return toMetricsMessage(await claudeUsage.report(manager.get(req.id).project_dir));
      }),
    getSystemMetrics: async () => {
      // The last background sample; after a quiet spell (nobody asked) one new sample of a few /proc files.
      if (deps.systemMetrics === undefined) {
        throw new ConnectError("this daemon samples no system metrics", Code.Unavailable);
      }
      return toSystemMetricsMessage(await deps.systemMetrics.current());
    },
  };
}

function notYet(rpc: string, what: string): never {
  throw new ConnectError(
    `${rpc} is not implemented yet: ${what} come with the observability work`,
    Code.Unimplemented,
  );
}
