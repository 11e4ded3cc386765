import { readdir, readFile, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import writeFileAtomic from "write-file-atomic";
import { SandboxError } from "./errors.js";
import { BACKENDS, type SandboxRecord } from "./types.js";

export const SCHEMA_VERSION = 1;

export interface StateStore {
  readonly file: string;
  /** Writes the records if they differ from what was last written; writes are serialized. */
  save(records: Iterable<SandboxRecord>): Promise<void>;
}

/**
 * Reads state.json. A missing file is an empty state; anything unreadable is an error naming the file, and the
 * file is left as it is: replacing it with an empty state would orphan every sandbox it describes.
 */
export async function loadState(file: string): Promise<Map<string, SandboxRecord>> {
  await removeInterruptedWrites(file);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return new Map();
    throw corrupt(file, `cannot be read (${(error as Error).message})`, error);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw corrupt(file, `is not valid JSON (${(error as Error).message})`, error);
  }
  if (!isObject(parsed)) throw corrupt(file, "does not hold a JSON object");
  if (parsed.schema_version !== SCHEMA_VERSION) {
    throw corrupt(
      file,
      `has schema_version ${JSON.stringify(parsed.schema_version)}; this manager reads version ${SCHEMA_VERSION}`,
    );
  }
  if (!isObject(parsed.sandboxes)) throw corrupt(file, `has no "sandboxes" object`);
  const records = new Map<string, SandboxRecord>();
  for (const [id, value] of Object.entries(parsed.sandboxes)) {
    const problem = recordProblem(id, value);
    if (problem !== null) throw corrupt(file, `has an invalid sandbox ${JSON.stringify(id)}: ${problem}`);
    records.set(id, value as SandboxRecord);
  }
  return records;
}

/**
 * A write cut short by a crash (kill -9 between write-file-atomic's temp file and its rename) leaves the temp
 * file, `state.json.<number>`, beside the state file for good. The caller holds the manager lock, so no write
 * of ours is under way: every such file is a leftover.
 */
async function removeInterruptedWrites(file: string): Promise<void> {
  const prefix = `${basename(file)}.`;
  const names = await readdir(dirname(file)).catch(() => [] as string[]);
  for (const name of names) {
    if (name.startsWith(prefix) && /^[0-9]+$/.test(name.slice(prefix.length))) {
      await rm(join(dirname(file), name), { force: true });
    }
  }
}

export function createStateStore(file: string): StateStore {
  let lastWritten: string | null = null;
  let queue: Promise<void> = Promise.resolve();

  function save(records: Iterable<SandboxRecord>): Promise<void> {
    const sandboxes: Record<string, SandboxRecord> = {};
    for (const record of records) sandboxes[record.id] = record;
    const text = `${JSON.stringify({ schema_version: SCHEMA_VERSION, sandboxes }, null, 2)}\n`;
    const write = async () => {
      if (text === lastWritten) return;
      // write-file-atomic: temp file in the same directory, fsync, rename; a crash leaves old or new, never half.
      try {
        await writeFileAtomic(file, text, { mode: 0o600, fsync: true });
      } catch (error) {
        throw writeFailed(file, error);
      }
      lastWritten = text;
    };
    queue = queue.then(write, write);
    return queue;
  }

  return { file, save };
}

/** Errno codes of a file system that has no room left: for all, quota, or inodes (ENOSPC covers both). */
const NO_SPACE = new Set(["ENOSPC", "EDQUOT"]);

/**
 * A failed write, said so the caller knows the change was not recorded: the old state.json stays (the atomic
 * write only renames a complete file), and the next change that is saved writes this one too.
 */
function writeFailed(file: string, error: unknown): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === undefined || !NO_SPACE.has(code)) return error as Error;
  return new SandboxError(
    "resource_exhausted",
    `no space left on the file system of the state file ${file} (${code}): the change was not saved; free ` +
      "space there and try again",
    { cause: error },
  );
}

function corrupt(file: string, problem: string, cause?: unknown): SandboxError {
  return new SandboxError(
    "failed_precondition",
    `state file ${file} ${problem}; the manager will not start with it. It was left untouched: fix it, or move ` +
      "it away to start with no sandboxes.",
    { cause },
  );
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const STRING_FIELDS = ["id", "name", "project_dir", "created_at", "status_reason"] as const;
const NULLABLE_STRING_FIELDS = [
  "tmux_session",
  "qemu_qmp_socket",
  "stopped_at",
  "exit_signal",
  "xvfb_start_time",
] as const;
const NULLABLE_INT_FIELDS = ["display_num", "pid_xvfb", "exit_code"] as const;

function recordProblem(id: string, value: unknown): string | null {
  if (!isObject(value)) return "not an object";
  for (const field of STRING_FIELDS) if (typeof value[field] !== "string") return `${field} must be a string`;
  if (value.id !== id) return `its id ${JSON.stringify(value.id)} differs from its key`;
  for (const field of NULLABLE_STRING_FIELDS) {
    if (value[field] !== null && typeof value[field] !== "string") return `${field} must be a string or null`;
  }
  for (const field of NULLABLE_INT_FIELDS) {
    if (value[field] !== null && !Number.isSafeInteger(value[field]))
      return `${field} must be an integer or null`;
  }
  if (!(BACKENDS as readonly unknown[]).includes(value.backend)) return "backend is not a known backend";
  if (!["running", "stopped", "dead"].includes(value.status as string)) return "status is not a known status";
  if (typeof value.network !== "boolean" || typeof value.shell !== "boolean") {
    return "network and shell must be booleans";
  }
  if (!Array.isArray(value.agent_args) || !value.agent_args.every((a) => typeof a === "string")) {
    return "agent_args must be a list of strings";
  }
  return null;
}
