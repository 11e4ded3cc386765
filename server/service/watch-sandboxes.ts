import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { WatchSandboxesResponseSchema } from "../../gen/claude_sandbox/v1/sandbox_service_pb.js";
import type { SandboxManager } from "../sandbox/sandbox-manager.js";
import type { SandboxEvent } from "../sandbox/types.js";
import { toSandboxMessage } from "./to-sandbox-message.js";

type WatchResponseInit = MessageInitShape<typeof WatchSandboxesResponseSchema>;

// Events waiting for a client that does not read. Far more than any burst of real changes; past it the
// client is told to reconnect (and gets a fresh snapshot) instead of the manager buffering without bound.
export const MAX_PENDING_WATCH_EVENTS = 10_000;

/**
 * A snapshot, then every change, with keepalives while nothing happens. Ends when `signal` aborts: quietly
 * for a client that went away, by throwing the reason when it is a ConnectError (the daemon's shutdown).
 */
export async function* watchSandboxes(
  manager: SandboxManager,
  signal: AbortSignal,
  keepaliveMs: number,
): AsyncGenerator<WatchResponseInit> {
  const pending: SandboxEvent[] = [];
  let wake: (() => void) | undefined;
  let overflowed = false;
  // Subscribing and listing in the same synchronous step means no change can fall between the snapshot and
  // the first event.
  const unsubscribe = manager.onEvent((event) => {
    if (pending.length >= MAX_PENDING_WATCH_EVENTS) overflowed = true;
    else pending.push(event);
    wake?.();
  });
  const onAbort = () => wake?.();
  signal.addEventListener("abort", onAbort);
  try {
    const snapshot = manager.list();
    yield { event: { case: "snapshot", value: { sandboxes: snapshot.map((r) => toSandbox(manager, r)) } } };
    for (;;) {
      for (let event = pending.shift(); event !== undefined; event = pending.shift()) {
        yield event.type === "upserted"
          ? { event: { case: "upserted", value: toSandbox(manager, event.sandbox) } }
          : { event: { case: "deleted", value: { id: event.id } } };
      }
      if (overflowed) {
        throw new ConnectError(
          "watch fell too far behind the changes; reconnect to get a fresh snapshot",
          Code.ResourceExhausted,
        );
      }
      if (signal.aborted) break;
      const woken = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), keepaliveMs);
        wake = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
      wake = undefined;
      if (signal.aborted) break;
      if (!woken) yield { event: { case: "keepalive", value: { offset: 0n } } };
    }
    if (signal.reason instanceof ConnectError) throw signal.reason;
  } finally {
    unsubscribe();
    signal.removeEventListener("abort", onAbort);
  }
}

function toSandbox(manager: SandboxManager, record: Parameters<typeof toSandboxMessage>[0]) {
  return toSandboxMessage(record, manager.tmuxSocket);
}
