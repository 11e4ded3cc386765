// The dashboard's create form: what its fields mean as a create request, and what a refused create says next to
// which field.
import { ConnectError } from "@connectrpc/connect";
import {
  type FieldErrors,
  type ParsedCreateInput,
  parseCreateInput,
  serviceFieldError,
} from "./create-request.js";
import { HTTP_STATUS_BY_CODE } from "./http-status.js";
import { BACKEND_NAMES } from "./sandbox-json.js";

export const FORM_FIELDS = ["name", "backend", "project_dir", "network", "shell"] as const;

/** What the form shows: the values typed (kept after an error) and the errors by field. */
export interface CreateFormView {
  values: { name: string; backend: string; project_dir: string; network: boolean; shell: boolean };
  errors: FieldErrors;
  /** An error that is about no one field (a missing launcher, a full disk). */
  general: string | null;
  backends: string[];
}

export function emptyForm(): CreateFormView {
  return {
    values: { name: "", backend: "bubblewrap", project_dir: "", network: true, shell: false },
    errors: {},
    general: null,
    backends: Object.keys(BACKEND_NAMES),
  };
}

const text = (value: unknown): string => (typeof value === "string" ? value : "");

/**
 * The posted form as the API's body: a checkbox is in the form only when it is ticked, so its absence is
 * false (not "not set", which would mean network on).
 */
export function readForm(body: Record<string, unknown>): {
  view: CreateFormView;
  parsed: ParsedCreateInput;
} {
  const values = {
    name: text(body.name),
    backend: text(body.backend),
    project_dir: text(body.project_dir).trim(),
    network: body.network !== undefined,
    shell: body.shell !== undefined,
  };
  return { view: { ...emptyForm(), values }, parsed: parseCreateInput(values, "json") };
}

/** A refused create on the form: next to its field when the manager named one of the form's, else above. */
export function refusalOnForm(view: CreateFormView, err: unknown): { view: CreateFormView; status: number } {
  const error = ConnectError.from(err);
  const status = HTTP_STATUS_BY_CODE[error.code];
  const named = serviceFieldError(error);
  if (named !== undefined && (FORM_FIELDS as readonly string[]).includes(named.field)) {
    return { view: { ...view, errors: { [named.field]: named.message } }, status };
  }
  return { view: { ...view, general: error.rawMessage }, status };
}
