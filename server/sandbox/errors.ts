// The sandbox core's errors: DomainErrors (server/errors.ts), so the service layer maps their kinds to Connect
// codes in its one table; messages are written for the person who made the request.
import { DomainError, type ErrorKind } from "../errors.js";

export type SandboxErrorKind = ErrorKind;

export class SandboxError extends DomainError {
  override readonly name = "SandboxError";
}

export const invalidArgument = (field: string, message: string): SandboxError =>
  new SandboxError("invalid_argument", `${field}: ${message}`, { field });

export const permissionDenied = (field: string, message: string): SandboxError =>
  new SandboxError("permission_denied", `${field}: ${message}`, { field });

export const notFound = (id: string): SandboxError =>
  new SandboxError("not_found", `sandbox ${JSON.stringify(id)} not found`);

/** A tool the manager needs is not installed; names the Debian package that provides it. */
export const missingTool = (tool: string, debianPackage: string, cause?: unknown): SandboxError =>
  new SandboxError(
    "failed_precondition",
    `${tool} was not found on PATH; install it (Debian package: ${debianPackage})`,
    { cause },
  );

/** The launcher command of a backend is not installed (it ships with claude-sandbox, not with Debian). */
export const missingLauncher = (backend: string, command: string): SandboxError =>
  new SandboxError(
    "failed_precondition",
    `the ${backend} launcher ${command} was not found on PATH; install claude-sandbox's launchers or point the ` +
      "manager at them (MANAGER_LAUNCHER_* settings)",
  );
