import type { MessageInitShape } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import {
  LogEndReason,
  type TailLogsRequest,
  type TailLogsResponseSchema,
} from "../../gen/claude_sandbox/v1/sandbox_service_pb.js";
import type { SetResponseDeadline } from "../http/response-deadline.js";
import type { LogHub } from "../logs/log-hub.js";
import type { SandboxManager } from "../sandbox/sandbox-manager.js";
import { toConnectError } from "./to-connect-error.js";
import { toSafeOffset } from "./to-safe-offset.js";
import { logEndReasonToMessage } from "./to-sandbox-message.js";

type TailLogsResponseInit = MessageInitShape<typeof TailLogsResponseSchema>;

/**
 * Once a tail has ended, how long its HTTP response may go without progress before it is cut. A client that
 * stopped reading (LogEnd TOO_SLOW is the usual case) would otherwise hold the response open until it
 * disconnects; one that still reads gets its last chunks and the end. Generous: a client cut off early in a long
 * burst may only come back to read once the burst is over, which on a loaded machine takes several seconds.
 */
export const TAIL_END_GRACE_MS = 10_000;

export interface TailLogsDeps {
  manager: SandboxManager;
  logHub: LogHub;
  reportError: (rpc: string, err: unknown) => void;
  shutdownSignal?: AbortSignal;
}

/**
 * TailLogs: the hub's events as messages, with offsets as uint64. Ends with the hub's LogEnd; at shutdown
 * with LogEnd SHUTDOWN at the offset reached even if the hub stopped quietly; at a deadline with its code.
 */
export async function* tailLogs(
  deps: TailLogsDeps,
  req: TailLogsRequest,
  signal: AbortSignal,
  /** The HTTP response's deadline setter (none for in-process calls, whose stream is not a response). */
  setDeadline: SetResponseDeadline | undefined,
): AsyncGenerator<TailLogsResponseInit> {
  const { manager, logHub } = deps;
  const endSoon = (): void => setDeadline?.(TAIL_END_GRACE_MS);
  let position = 0;
  try {
    const fromOffset = req.fromOffset === undefined ? undefined : toSafeOffset("from_offset", req.fromOffset);
    manager.get(req.id);
    position = fromOffset ?? 0;
    const events = logHub.tail(req.id, manager.logPath(req.id), {
      backlogLines: req.backlogLines,
      fromOffset,
      signal,
      // The end event waits for a pull that a stalled client's transport never makes: start the clock now.
      onEnd: endSoon,
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
        const reason = logEndReasonToMessage(event.reason);
        endSoon();
        yield {
          event: { case: "end", value: { reason, message: event.message, offset: BigInt(event.offset) } },
        };
        return;
      }
    }
  } catch (err) {
    // A hub may throw its signal's abort reason; that is the end of the stream, not a failure.
    if (!signal.aborted) {
      // The error is the stream's last message, and as stuck as an end behind a client that stopped reading.
      endSoon();
      throw toConnectError(err, (e) => deps.reportError("TailLogs", e));
    }
  }
  if (deps.shutdownSignal?.aborted) {
    // The client still deserves the final message that tells it where to resume.
    const message = "manager shutting down; reconnect and resume from offset";
    endSoon();
    yield {
      event: { case: "end", value: { reason: LogEndReason.SHUTDOWN, message, offset: BigInt(position) } },
    };
    return;
  }
  // A deadline the client set ends the stream with its code rather than as if the log had ended.
  if (signal.aborted && signal.reason instanceof ConnectError) throw signal.reason;
}
