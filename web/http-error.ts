import { Code, ConnectError } from "@connectrpc/connect";
import { HTTP_STATUS_BY_CODE } from "./http-status.js";

/** An error the gateway answers with `status` and `message` (written for the caller); `field` names the input. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

/** What any error thrown in a route becomes on the wire. Unknown errors say nothing of their details. */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof ConnectError) return new HttpError(HTTP_STATUS_BY_CODE[err.code], err.rawMessage);
  // Express's body parsers mark their errors with the status they mean (400 malformed, 413 too large, 415).
  const status = (err as { status?: unknown; type?: unknown }).status;
  if (typeof status === "number" && status >= 400 && status < 500) {
    return new HttpError(status, bodyParserMessage(err as { type?: unknown; message?: string }, status));
  }
  return new HttpError(
    HTTP_STATUS_BY_CODE[Code.Internal],
    "internal error in the manager; its log has the details",
  );
}

function bodyParserMessage(err: { type?: unknown; message?: string }, status: number): string {
  switch (err.type) {
    case "entity.parse.failed":
      return "the request body is not valid JSON";
    case "entity.too.large":
      return "the request body is too large";
    case "encoding.unsupported":
      return "the request body's encoding is not supported";
    default:
      return status === 413 ? "the request body is too large" : (err.message ?? "bad request");
  }
}
