// What a create body (the REST API's JSON, or the dashboard form once it is put in the same shape) becomes:
// a CreateSandboxRequest, or every problem with it by field. The manager validates again (the project
// directory's existence and access, limits); this only catches what is wrong before anything is asked.
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { CreateSandboxRequestSchema } from "../client/index.js";
import { BACKEND_NAMES } from "./sandbox-json.js";

export type CreateRequestInit = MessageInitShape<typeof CreateSandboxRequestSchema>;

/** Problems by field name, as the API spells the fields (`name`, `backend`, `project_dir`, …). */
export type CreateErrors = Record<string, string>;

export type ParsedCreateInput = { request: CreateRequestInit } | { errors: CreateErrors };

const MAX_NAME_LENGTH = 128;

export function parseCreateInput(body: unknown): ParsedCreateInput {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { errors: { request: "the body must be an object with name, backend and project_dir" } };
  }
  const input = body as Record<string, unknown>;
  const errors: CreateErrors = {};

  const name = input.name;
  if (typeof name !== "string") errors.name = "must be a string";
  else if (name.trim() === "") errors.name = "must not be empty";
  else if ([...name].length > MAX_NAME_LENGTH) errors.name = `must be at most ${MAX_NAME_LENGTH} characters`;

  const backendName = input.backend;
  const backend = typeof backendName === "string" ? BACKEND_NAMES[backendName] : undefined;
  if (backend === undefined) {
    errors.backend = `${JSON.stringify(backendName ?? null)} is not one of ${Object.keys(BACKEND_NAMES).join(", ")}`;
  }

  const projectDir = input.project_dir;
  if (typeof projectDir !== "string") errors.project_dir = "must be a string";
  else if (projectDir === "") errors.project_dir = "must not be empty";
  else if (!projectDir.startsWith("/")) errors.project_dir = "must be an absolute path";

  for (const field of ["network", "shell"] as const) {
    if (input[field] !== undefined && typeof input[field] !== "boolean")
      errors[field] = "must be true or false";
  }

  if (Object.keys(errors).length > 0) return { errors };
  return {
    request: {
      name: name as string,
      backend,
      projectDir: projectDir as string,
      network: input.network as boolean | undefined,
      shell: (input.shell as boolean | undefined) ?? false,
    },
  };
}
