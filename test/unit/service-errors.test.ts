import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { DomainError, invalidArgument } from "../../server/errors.js";
import { missingTool, notFound, SandboxError, type SandboxErrorKind } from "../../server/sandbox/errors.js";
import { CODE_BY_KIND, INTERNAL_MESSAGE, toConnectError } from "../../server/service/to-connect-error.js";

describe("toConnectError", () => {
  it.each([
    ["invalid_argument", Code.InvalidArgument],
    ["permission_denied", Code.PermissionDenied],
    ["not_found", Code.NotFound],
    ["already_exists", Code.AlreadyExists],
    ["failed_precondition", Code.FailedPrecondition],
    ["resource_exhausted", Code.ResourceExhausted],
    ["unavailable", Code.Unavailable],
    ["internal", Code.Internal],
  ] as [SandboxErrorKind, Code][])("maps %s to Code %i and keeps the message", (kind, code) => {
    const err = toConnectError(new SandboxError(kind, `something about ${kind}`), () => {});
    expect(err.code).toBe(code);
    expect(err.rawMessage).toBe(`something about ${kind}`);
  });

  it("covers every kind in one table", () => {
    expect(Object.keys(CODE_BY_KIND).sort()).toEqual([
      "already_exists",
      "failed_precondition",
      "internal",
      "invalid_argument",
      "not_found",
      "permission_denied",
      "resource_exhausted",
      "unavailable",
    ]);
  });

  it("keeps the helpers' messages: not_found names the id, a missing tool names tool and package", () => {
    expect(toConnectError(notFound("abc"), () => {}).rawMessage).toBe('sandbox "abc" not found');
    const tool = toConnectError(missingTool("Xvfb", "xvfb"), () => {});
    expect(tool.code).toBe(Code.FailedPrecondition);
    expect(tool.rawMessage).toContain("Xvfb");
    expect(tool.rawMessage).toContain("xvfb");
  });

  it("turns an unknown error into Internal with a generic message and reports the original", () => {
    const reported: unknown[] = [];
    const original = new TypeError("cannot read properties of undefined (secret /root/path)");
    const err = toConnectError(original, (e) => reported.push(e));
    expect(err.code).toBe(Code.Internal);
    expect(err.rawMessage).toBe(INTERNAL_MESSAGE);
    expect(err.message).not.toContain("secret");
    expect(err.cause).toBeUndefined();
    expect(reported).toEqual([original]);
  });

  it.each([
    ["failed_precondition", true],
    ["resource_exhausted", true],
    ["unavailable", true],
    ["internal", true],
    ["invalid_argument", false],
    ["permission_denied", false],
    ["not_found", false],
    ["already_exists", false],
  ] as [SandboxErrorKind, boolean][])("reports %s to the daemon log: %s", (kind, reported) => {
    const seen: unknown[] = [];
    const err = new SandboxError(kind, "message for the caller");
    expect(toConnectError(err, (e) => seen.push(e)).rawMessage).toBe("message for the caller");
    expect(seen).toEqual(reported ? [err] : []);
  });

  it("maps the log tails' errors (DomainError, not SandboxError) through the same table", () => {
    const bad = toConnectError(invalidArgument("from_offset", "past the end"), () => {});
    expect(bad.code).toBe(Code.InvalidArgument);
    expect(bad.rawMessage).toBe("from_offset: past the end");
    const reported: unknown[] = [];
    const broken = new DomainError("internal", "reading the log /x failed: EISDIR");
    expect(toConnectError(broken, (e) => reported.push(e))).toMatchObject({
      code: Code.Internal,
      rawMessage: "reading the log /x failed: EISDIR",
    });
    expect(reported).toEqual([broken]);
  });

  it("passes a ConnectError through unchanged and does not report it", () => {
    const reported: unknown[] = [];
    const original = new ConnectError("limit too big", Code.InvalidArgument);
    expect(toConnectError(original, (e) => reported.push(e))).toBe(original);
    expect(reported).toEqual([]);
  });
});
