import { Code, ConnectError } from "@connectrpc/connect";
import {
  type GetScreenshotRequest,
  ScreenshotFormat,
} from "../../gen/claude_sandbox/v1/sandbox_service_pb.js";
import type { ScreenshotRequest } from "../screenshots/screenshot-capturer.js";

/** Widest image one may ask for; displays are far narrower, so a larger value is a mistake. */
export const MAX_SCREENSHOT_WIDTH = 8192;

const FORMATS: Readonly<Record<number, ScreenshotRequest["format"]>> = {
  [ScreenshotFormat.UNSPECIFIED]: "png",
  [ScreenshotFormat.PNG]: "png",
  [ScreenshotFormat.JPEG]: "jpeg",
  [ScreenshotFormat.WEBP]: "webp",
};

/** The wire request's format and width, checked: a bad one is invalid_argument naming the field. */
export function screenshotRequestFrom(
  req: Pick<GetScreenshotRequest, "format" | "maxWidth">,
): ScreenshotRequest {
  const format = FORMATS[req.format];
  if (format === undefined) {
    throw new ConnectError(
      `format: unknown value ${req.format} (SCREENSHOT_FORMAT_PNG, _JPEG or _WEBP)`,
      Code.InvalidArgument,
    );
  }
  if (req.maxWidth > MAX_SCREENSHOT_WIDTH) {
    throw new ConnectError(
      `max_width: ${req.maxWidth} is more than ${MAX_SCREENSHOT_WIDTH} (0 means the display's full size)`,
      Code.InvalidArgument,
    );
  }
  return { format, maxWidth: req.maxWidth };
}
