// One reading of a create body for both ways it arrives: the REST API's JSON (POST /api/sandboxes) and the
// dashboard's urlencoded form (POST /new). Only the shape and types are checked here, every problem at once so a
// form can show each next to its field; what needs the host (the project directory, name rules, limit ranges)
// is the service's to check, and serviceFieldError reads its answer back into the same per-field form.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type CreateSandboxRequest,
  CreateSandboxRequestSchema,
  type ResourceLimits,
  ResourceLimitsSchema,
} from "../client/index.js";
import { BACKEND_NAMES } from "./sandbox-json.js";

/** Where a body came from: JSON keeps its types; a form sends only strings, and an unchecked box not at all. */
export type CreateInputSource = "json" | "form";

/** Field name (as the API spells it: `name`, `limits.memory_bytes`, `agent_args[2]`) → what is wrong with it. */
export type FieldErrors = Record<string, string>;

export type ParsedCreateInput = { request: CreateSandboxRequest } | { errors: FieldErrors };

export const CREATE_FIELDS = [
  "name",
  "backend",
  "project_dir",
  "network",
  "shell",
  "agent_args",
  "limits",
] as const;

const BACKEND_LIST = Object.keys(BACKEND_NAMES).join(", ");
const UINT32_MAX = 2 ** 32 - 1;

type LimitField = "memoryBytes" | "swapBytes" | "maxProcesses" | "cpuWeight" | "tmpfsBytes";

// The wire's limit names and their protobuf types: uint64 byte counts become bigints, uint32 counts stay numbers.
const LIMIT_FIELDS: Readonly<Record<string, { key: LimitField; uint32: boolean }>> = {
  memory_bytes: { key: "memoryBytes", uint32: false },
  swap_bytes: { key: "swapBytes", uint32: false },
  max_processes: { key: "maxProcesses", uint32: true },
  cpu_weight: { key: "cpuWeight", uint32: true },
  tmpfs_bytes: { key: "tmpfsBytes", uint32: false },
};

/**
 * Reads a create body into a CreateSandboxRequest, or says what is wrong with each field. JSON: `name`,
 * `backend` and `project_dir` are required strings; `network` (default true) and `shell` booleans; `agent_args`
 * a list of strings; `limits` an object of whole numbers; `null` counts as not set, and an unknown field is an
 * error (a misspelt `netwrok: false` must not silently leave the network on). Form: a repeated field counts by
 * its last value; a box sends "on"/"true"/"1" checked and nothing (or "false", a hidden field's value)
 * unchecked; `agent_args` is one field per argument; `limits.<name>` fields are decimal, empty meaning not set.
 */
export function parseCreateInput(body: unknown, source: CreateInputSource = "json"): ParsedCreateInput {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return {
      errors: { body: source === "json" ? "must be a JSON object" : "must be a form with the create fields" },
    };
  }
  const fields = body as Record<string, unknown>;
  const errors: FieldErrors = {};
  const reader = source === "json" ? jsonReader(fields, errors) : formReader(fields, errors);

  const name = reader.text("name");
  if (name !== undefined && name.trim() === "") errors.name = "must not be empty";
  const backendName = reader.text("backend");
  let backend = 0;
  if (backendName !== undefined) {
    const known = Object.hasOwn(BACKEND_NAMES, backendName) ? BACKEND_NAMES[backendName] : undefined;
    if (known === undefined) errors.backend = `${JSON.stringify(backendName)} is not one of ${BACKEND_LIST}`;
    else backend = known;
  }
  const projectDir = reader.text("project_dir");
  if (projectDir === "") errors.project_dir = "is required";
  // The manager checks the directory itself; this one is shown beside the other fields' errors at once.
  else if (projectDir !== undefined && !projectDir.startsWith("/"))
    errors.project_dir = `${JSON.stringify(projectDir)} is not an absolute path`;
  const network = reader.flag("network");
  const shell = reader.flag("shell");
  const agentArgs = reader.args("agent_args");
  const limits = reader.limits();

  if (Object.keys(errors).length > 0) return { errors: ordered(errors) };
  return {
    request: create(CreateSandboxRequestSchema, {
      name: name ?? "",
      backend,
      projectDir: projectDir ?? "",
      network: network ?? (source === "json" ? undefined : false),
      shell: shell ?? false,
      agentArgs: agentArgs ?? [],
      limits,
    }),
  };
}

/**
 * The field an error of the service is about, read from its message (`name: is 200 characters long; …`, as the
 * service writes every field error), or undefined for an error about no field or not about the request.
 */
export function serviceFieldError(err: unknown): { field: string; message: string } | undefined {
  if (!(err instanceof ConnectError)) return undefined;
  if (err.code !== Code.InvalidArgument && err.code !== Code.PermissionDenied) return undefined;
  const match = /^([a-z_]+(?:\[\d+\]|\.[a-z_]+)*): (.+)$/s.exec(err.rawMessage);
  if (match === null) return undefined;
  return { field: match[1] ?? "", message: match[2] ?? "" };
}

/** The first error as one line, `field: message`, as the service words its own. */
export function firstFieldError(errors: FieldErrors): { field: string; message: string } {
  const [field, message] = Object.entries(errors)[0] ?? ["body", "is invalid"];
  return { field, message: `${field}: ${message}` };
}

interface FieldReader {
  /** A required string: undefined (with the error recorded) when missing or not a string. */
  text(field: "name" | "backend" | "project_dir"): string | undefined;
  flag(field: "network" | "shell"): boolean | undefined;
  args(field: "agent_args"): string[] | undefined;
  limits(): ResourceLimits | undefined;
}

function jsonReader(fields: Record<string, unknown>, errors: FieldErrors): FieldReader {
  for (const key of Object.keys(fields)) {
    if (!(CREATE_FIELDS as readonly string[]).includes(key)) {
      errors[key] = `is not a field of a create request; the fields are ${CREATE_FIELDS.join(", ")}`;
    }
  }
  const given = (field: string) => fields[field] !== undefined && fields[field] !== null;
  return {
    text(field) {
      const value = fields[field];
      if (!given(field)) {
        errors[field] = field === "backend" ? `is required (one of ${BACKEND_LIST})` : "is required";
        return undefined;
      }
      if (typeof value !== "string") {
        errors[field] =
          field === "backend"
            ? `${JSON.stringify(value)} is not one of ${BACKEND_LIST}`
            : `must be a string, not ${describe(value)}`;
        return undefined;
      }
      return value;
    },
    flag(field) {
      if (!given(field)) return undefined;
      const value = fields[field];
      if (typeof value === "boolean") return value;
      errors[field] = `must be true or false, not ${describe(value)}`;
      return undefined;
    },
    args(field) {
      if (!given(field)) return undefined;
      const value = fields[field];
      if (!Array.isArray(value)) {
        errors[field] = "must be a list of strings";
        return undefined;
      }
      value.forEach((arg: unknown, i) => {
        if (typeof arg !== "string") errors[`${field}[${i}]`] = `must be a string, not ${describe(arg)}`;
      });
      return value as string[];
    },
    limits() {
      if (!given("limits")) return undefined;
      const value = fields.limits;
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        errors.limits = "must be an object";
        return undefined;
      }
      return readLimits(value as Record<string, unknown>, errors, (raw) =>
        typeof raw === "number" ? raw : undefined,
      );
    },
  };
}

function formReader(fields: Record<string, unknown>, errors: FieldErrors): FieldReader {
  // A field sent twice (a hidden "false" before its checkbox) counts by its last value, as a browser means it.
  const last = (field: string): string | undefined => {
    const value = fields[field];
    const one = Array.isArray(value) ? value[value.length - 1] : value;
    return typeof one === "string" ? one : undefined;
  };
  return {
    text(field) {
      const value = last(field);
      if (value === undefined || value === "") {
        errors[field] = field === "backend" ? `is required (one of ${BACKEND_LIST})` : "is required";
        return undefined;
      }
      return value;
    },
    flag(field) {
      const value = last(field);
      if (value === undefined) return undefined;
      if (["on", "true", "1"].includes(value)) return true;
      if (["off", "false", "0", ""].includes(value)) return false;
      errors[field] = `must be true or false, not ${JSON.stringify(value)}`;
      return undefined;
    },
    args(field) {
      const value = fields[field];
      const all = Array.isArray(value) ? value : value === undefined ? [] : [value];
      // An empty text box is no argument; an argument that is an empty string cannot be typed in a form.
      return all.filter((arg): arg is string => typeof arg === "string" && arg !== "");
    },
    limits() {
      const raw: Record<string, unknown> = {};
      for (const key of Object.keys(fields)) {
        if (!key.startsWith("limits.")) continue;
        const value = last(key);
        if (value !== undefined && value.trim() !== "") raw[key.slice("limits.".length)] = value.trim();
      }
      if (Object.keys(raw).length === 0) return undefined;
      return readLimits(raw, errors, (text) =>
        typeof text === "string" && /^-?[0-9]+$/.test(text) ? Number(text) : undefined,
      );
    },
  };
}

/**
 * Limits as protobuf wants them. Only what the message cannot carry is refused here (not a whole number,
 * negative, past uint32 for the counts); the service checks each limit's range and words it.
 */
function readLimits(
  raw: Record<string, unknown>,
  errors: FieldErrors,
  toNumber: (value: unknown) => number | undefined,
): ResourceLimits {
  const limits = create(ResourceLimitsSchema);
  for (const [name, value] of Object.entries(raw)) {
    const field = `limits.${name}`;
    const spec = Object.hasOwn(LIMIT_FIELDS, name) ? LIMIT_FIELDS[name] : undefined;
    if (spec === undefined) {
      errors[field] = `is not a limit; the limits are ${Object.keys(LIMIT_FIELDS).join(", ")}`;
      continue;
    }
    if (value === null || value === undefined) continue;
    const n = toNumber(value);
    if (n === undefined || !Number.isInteger(n)) {
      errors[field] = `must be a whole number, not ${describe(value)}`;
    } else if (n < 0) {
      errors[field] = `is ${n}; it must not be negative`;
    } else if (!Number.isSafeInteger(n) || (spec.uint32 && n > UINT32_MAX)) {
      // Past 2^53 a JSON number is no longer the one that was written; the service's own limits are far below.
      errors[field] =
        `is ${String(value)}; it must be at most ${spec.uint32 ? UINT32_MAX : Number.MAX_SAFE_INTEGER}`;
    } else if (spec.uint32) {
      limits[spec.key as "maxProcesses" | "cpuWeight"] = n;
    } else {
      limits[spec.key as "memoryBytes" | "swapBytes" | "tmpfsBytes"] = BigInt(n);
    }
  }
  return limits;
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return "a list";
  if (value === null) return "null";
  if (typeof value === "object") return "an object";
  return JSON.stringify(value) ?? typeof value;
}

/** Errors in the order of the form's fields, then anything else (unknown fields), so the first is the first. */
function ordered(errors: FieldErrors): FieldErrors {
  const rank = (field: string) => {
    const i = CREATE_FIELDS.findIndex(
      (f) => field === f || field.startsWith(`${f}.`) || field.startsWith(`${f}[`),
    );
    return i === -1 ? CREATE_FIELDS.length : i;
  };
  return Object.fromEntries(Object.entries(errors).sort(([a], [b]) => rank(a) - rank(b)));
}
