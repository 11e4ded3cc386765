import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ConnectError } from "@connectrpc/connect";
import type {
  WatchScreenshotsRequest,
  WatchScreenshotsResponseSchema,
} from "../../gen/claude_sandbox/v1/sandbox_service_pb.js";
import type { SandboxManager } from "../sandbox/sandbox-manager.js";
import type { Screenshot, ScreenshotCapturer } from "../screenshots/screenshot-capturer.js";
import { screenshotRequestFrom } from "./screenshot-request.js";

type FrameInit = MessageInitShape<typeof WatchScreenshotsResponseSchema>;

const toFrame = (shot: Screenshot): FrameInit => ({
  image: shot.data,
  mimeType: shot.mimeType,
  width: shot.width,
  height: shot.height,
  capturedAt: timestampFromDate(shot.capturedAt),
});

/**
 * The latest frame, then each new one. Only the newest frame waits for a client that reads slowly (a display is
 * a state, not a log: frames it missed are worth nothing). Ends when the sandbox stops or is deleted, or when
 * `signal` aborts (with its reason when that is a ConnectError: the daemon's shutdown).
 */
export async function* watchScreenshots(
  manager: SandboxManager,
  screenshots: ScreenshotCapturer,
  req: WatchScreenshotsRequest,
  signal: AbortSignal,
): AsyncGenerator<FrameInit> {
  const request = screenshotRequestFrom(req);
  const record = manager.get(req.id);
  // Boxed: TypeScript does not see the callbacks assign it, and would narrow a plain `let` to null.
  const box: { pending: Screenshot | null } = { pending: null };
  let ended = false;
  let wake: (() => void) | undefined;
  // Subscribed before the first frame is read, so no frame falls between the two.
  const unsubscribe = screenshots.watch(
    record,
    request,
    (frame) => {
      box.pending = frame;
      wake?.();
    },
    () => {
      ended = true;
      wake?.();
    },
  );
  const onAbort = () => wake?.();
  signal.addEventListener("abort", onAbort);
  try {
    const first = await screenshots.latest(record, request);
    let sent = first.data;
    yield toFrame(first);
    for (;;) {
      const next = box.pending;
      box.pending = null;
      if (next !== null && next.data !== sent) {
        sent = next.data;
        yield toFrame(next);
        continue;
      }
      if (signal.aborted) {
        // The daemon's shutdown tells the client why (Unavailable: reconnect later); a client that left hears nothing.
        if (signal.reason instanceof ConnectError) throw signal.reason;
        return;
      }
      if (ended) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
  } finally {
    unsubscribe();
    signal.removeEventListener("abort", onAbort);
  }
}
