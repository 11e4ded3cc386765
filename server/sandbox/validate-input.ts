import { type FileHandle, realpath, stat } from "node:fs/promises";
import { isAbsolute } from "node:path";
import { invalidArgument, SandboxError } from "./errors.js";
import { checkProjectAccess, launchPath, openProject, type ProjectAccessContext } from "./project-access.js";
import { validateLimits } from "./resource-limits.js";
import {
  BACKENDS,
  type BackendName,
  type CreateSandboxInput,
  type Requester,
  type ResourceLimits,
} from "./types.js";

export const MAX_NAME_LENGTH = 128;
export const MAX_AGENT_ARGS = 256;
export const MAX_AGENT_ARGS_BYTES = 64 * 1024;

/** A create request after validation: every field present, project_dir resolved to its real path. */
export interface ValidCreateInput {
  name: string;
  backend: BackendName;
  projectDir: string;
  /**
   * What the launcher is given as the project: with a policy, the manager's descriptor of the checked directory
   * (`/proc/<pid>/fd/<n>`), so the directory launched is the one checked; otherwise projectDir.
   */
  launchPath: string;
  /** With a policy: the open directory, for the caller to close once the launcher no longer needs it. */
  projectHandle?: FileHandle;
  network: boolean;
  shell: boolean;
  agentArgs: string[];
  /** The request's limits, defaults for the rest. */
  limits: ResourceLimits;
}

// C0/C1 controls and DEL, plus line/paragraph separators and bidi overrides that make a name display as
// something other than what it is.
const FORBIDDEN_IN_NAME = /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

/** Who asks, and what the manager protects: decides which project directories are acceptable. */
export interface ProjectPolicy extends ProjectAccessContext {
  requester: Requester;
}

/**
 * Checks every field before anything is started; errors name the field as the API spells it. With a policy
 * (the manager always passes one), the project directory must also pass checkProjectAccess.
 */
export async function validateCreateInput(
  input: CreateSandboxInput,
  policy?: ProjectPolicy,
): Promise<ValidCreateInput> {
  if (typeof input !== "object" || input === null) throw invalidArgument("request", "must be an object");
  const name = input.name as unknown;
  if (typeof name !== "string") throw invalidArgument("name", "must be a string");
  const length = [...name].length;
  if (length === 0 || name.trim() === "") throw invalidArgument("name", "must not be empty");
  if (length > MAX_NAME_LENGTH) {
    throw invalidArgument("name", `is ${length} characters long; the limit is ${MAX_NAME_LENGTH}`);
  }
  if (FORBIDDEN_IN_NAME.test(name)) throw invalidArgument("name", "must not contain control characters");

  const backend = input.backend as unknown;
  if (typeof backend !== "string" || !(BACKENDS as readonly string[]).includes(backend)) {
    throw invalidArgument("backend", `${JSON.stringify(backend)} is not one of ${BACKENDS.join(", ")}`);
  }

  for (const field of ["network", "shell"] as const) {
    const value = input[field] as unknown;
    if (value !== undefined && typeof value !== "boolean")
      throw invalidArgument(field, "must be true or false");
  }

  const agentArgs = validateAgentArgs(input.agentArgs as unknown);
  const limits = validateLimits(input.limits as unknown);
  const real = await validateProjectDir(input.projectDir as unknown);
  const fields = {
    name,
    backend: backend as BackendName,
    network: input.network ?? true,
    shell: input.shell ?? false,
    agentArgs,
    limits,
  };
  if (policy === undefined) return { ...fields, projectDir: real, launchPath: real };
  const project = await openProject(real).catch((error: NodeJS.ErrnoException) => {
    if (error instanceof SandboxError) throw error;
    throw invalidArgument(
      "project_dir",
      `${JSON.stringify(input.projectDir)} cannot be opened (${error.code})`,
    );
  });
  try {
    await checkProjectAccess(project, policy.requester, policy);
  } catch (error) {
    await project.handle.close();
    throw error;
  }
  return {
    ...fields,
    projectDir: project.path,
    launchPath: launchPath(project),
    projectHandle: project.handle,
  };
}

function validateAgentArgs(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalidArgument("agent_args", "must be a list of strings");
  if (value.length > MAX_AGENT_ARGS) {
    throw invalidArgument("agent_args", `has ${value.length} entries; the limit is ${MAX_AGENT_ARGS}`);
  }
  let bytes = 0;
  value.forEach((arg: unknown, i) => {
    if (typeof arg !== "string") throw invalidArgument(`agent_args[${i}]`, "must be a string");
    // execve cannot pass a NUL inside an argument; it would silently cut the argument short.
    if (arg.includes("\0")) throw invalidArgument(`agent_args[${i}]`, "must not contain a NUL character");
    bytes += Buffer.byteLength(arg) + 1;
  });
  if (bytes > MAX_AGENT_ARGS_BYTES) {
    throw invalidArgument("agent_args", `total ${bytes} bytes; the limit is ${MAX_AGENT_ARGS_BYTES}`);
  }
  return [...value];
}

async function validateProjectDir(value: unknown): Promise<string> {
  if (typeof value !== "string" || value === "") throw invalidArgument("project_dir", "is required");
  if (value.includes("\0")) throw invalidArgument("project_dir", "must not contain a NUL character");
  if (!isAbsolute(value))
    throw invalidArgument("project_dir", `${JSON.stringify(value)} is not an absolute path`);
  let real: string;
  try {
    real = await realpath(value);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" || code === "ENOTDIR" ? "does not exist" : `cannot be resolved (${code})`;
    throw invalidArgument("project_dir", `${JSON.stringify(value)} ${why}`);
  }
  const info = await stat(real);
  if (!info.isDirectory())
    throw invalidArgument("project_dir", `${JSON.stringify(value)} is not a directory`);
  return real;
}
