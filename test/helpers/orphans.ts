// The "nothing lost, nothing orphaned" check that every fault test ends with: after whatever went wrong, the
// processes, tmux sessions, X sockets and files of a state directory are exactly those of the sandboxes its
// state.json says are running, and state.json itself is valid and holds the records it must.
import { readdir, readFile, readlink, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import { SandboxStatus } from "../../client/index.js";
import { managerTmux, tmuxServerPid } from "./manager-tmux.js";
import { processAlive as alive, type Daemon, waitUntil } from "./start-daemon.js";
import { staleXFiles } from "./x-display-files.js";

export interface OrphanCheck {
  /**
   * The manager that serves the state directory now, if one does: its own files are expected, and what it lists
   * must be what state.json holds.
   */
  daemon?: Daemon;
  /** Ids that must be in state.json: creates that answered and were not deleted since. */
  present?: readonly string[];
  /** Ids that must not be: deletes that answered. */
  absent?: readonly string[];
  /**
   * Display numbers the sandboxes may have used (a range around the manager's MANAGER_DISPLAY_BASE): none may
   * keep an X socket nobody listens on, or a lock file whose process is gone.
   */
  displays: Iterable<number>;
}

export interface StoredRecord {
  id: string;
  status: string;
  tmux_session: string | null;
  display_num: number | null;
  pid_xvfb: number | null;
  status_reason: string;
}

/** Reads state.json, failing unless it is valid JSON of the manager's shape. */
export async function readStateFile(stateDir: string): Promise<Map<string, StoredRecord>> {
  const text = await readFile(join(stateDir, "state.json"), "utf8");
  const parsed = JSON.parse(text) as { schema_version?: unknown; sandboxes?: Record<string, StoredRecord> };
  if (parsed.schema_version !== 1 || typeof parsed.sandboxes !== "object" || parsed.sandboxes === null) {
    throw new Error(`state.json has an unexpected shape:\n${text}`);
  }
  return new Map(Object.entries(parsed.sandboxes));
}

/**
 * Fails with a list of every problem found: processes, sessions, sockets or files that belong to no running
 * sandbox, records lost or duplicated. Returns the records of state.json for further checks.
 */
export async function expectNothingOrphaned(
  stateDir: string,
  check: OrphanCheck,
): Promise<Map<string, StoredRecord>> {
  const problems: string[] = [];
  const managerPid = check.daemon?.child.pid;
  if (check.daemon !== undefined) {
    // The manager announces a change before its write of state.json completes: give the write a moment.
    const client = check.daemon.client;
    const summary = (pairs: [string, string][]) => JSON.stringify(pairs.sort());
    let listed = "";
    let stored = "";
    await waitUntil(
      "state.json to hold what the manager lists",
      async () => {
        const { sandboxes } = await client.listSandboxes({});
        listed = summary(sandboxes.map((s) => [s.id, SandboxStatus[s.status].toLowerCase()]));
        stored = summary([...(await readStateFile(stateDir)).values()].map((r) => [r.id, r.status]));
        return listed === stored;
      },
      2000,
    ).catch(() => problems.push(`the manager lists ${listed} but state.json holds ${stored}`));
  }
  const records = await readStateFile(stateDir);
  const running = [...records.values()].filter((r) => r.status === "running");
  const liveIds = new Set(running.map((r) => r.id));
  const liveSessions = new Set(running.map((r) => r.tmux_session ?? ""));

  for (const id of check.present ?? []) if (!records.has(id)) problems.push(`record ${id} was lost`);
  for (const id of check.absent ?? []) if (records.has(id)) problems.push(`deleted record ${id} came back`);
  const sessions = [...records.values()].map((r) => r.tmux_session).filter((s) => s !== null);
  if (new Set(sessions).size !== sessions.length) problems.push(`two records share a session: ${sessions}`);
  const shown = running.map((r) => r.display_num);
  if (new Set(shown).size !== shown.length) problems.push(`two running records share a display: ${shown}`);

  const panes = await tmuxPanes(stateDir);
  for (const pane of panes) {
    if (!liveSessions.has(pane.session))
      problems.push(`tmux session ${pane.session} belongs to no running record`);
  }
  for (const session of liveSessions) {
    if (!panes.some((p) => p.session === session))
      problems.push(`running record's session ${session} is gone`);
  }
  const tmuxServer = await tmuxServerPid(stateDir);

  for (const proc of await processesOf(stateDir)) {
    if (proc.pid === managerPid || proc.pid === tmuxServer) continue;
    const owner = ownerOf(proc.text);
    if (owner === null || !(liveIds.has(owner) || liveSessions.has(owner))) {
      problems.push(
        `process ${proc.pid} (${proc.argv.join(" ").slice(0, 120)}) belongs to no running sandbox`,
      );
    }
  }
  for (const record of running) {
    if (record.pid_xvfb === null || !alive(record.pid_xvfb))
      problems.push(`running ${record.id} has no Xvfb`);
  }
  if (tmuxServer !== null && liveSessions.size === 0 && panes.length === 0 && managerPid === undefined) {
    problems.push(`tmux server ${tmuxServer} is left with no sandbox and no manager`);
  }

  for (const display of check.displays) problems.push(...(await staleXFiles(display)));

  const stray = async () =>
    (await filesIn(stateDir)).filter((f) => !fileExpected(f, records, liveIds, managerPid !== undefined));
  // tmux runs its exit hooks in the background (run-shell -b): one may still be writing its file in exits/ for
  // a session that just ended, and the manager discards such a file when it lands. Only those may settle.
  const settleBy = Date.now() + 2000;
  let strays = await stray();
  while (strays.some((f) => f.startsWith("exits/")) && Date.now() < settleBy) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    strays = [
      ...strays.filter((f) => !f.startsWith("exits/")),
      ...(await stray()).filter((f) => f.startsWith("exits/")),
    ];
  }
  for (const file of strays) problems.push(`stray file ${file} in the state directory`);
  if (problems.length > 0) {
    throw new Error(
      `left behind or lost:\n  ${problems.join("\n  ")}\nstate.json:\n${JSON.stringify([...records.values()], null, 1)}`,
    );
  }
  return records;
}

const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";

/** The sandbox id (or session name) a process's command line or environment names, if any. */
function ownerOf(text: string): string | null {
  return new RegExp(`(${UUID})|(sandbox-[0-9a-f]{8})`).exec(text)?.[0] ?? null;
}

function fileExpected(
  file: string,
  records: Map<string, StoredRecord>,
  liveIds: Set<string>,
  managerRuns: boolean,
): boolean {
  if (file === "state.json" || file === "tmux.sock") return true;
  if (file === "manager.lock" || file === "api.sock") return managerRuns;
  if (/^run\/spare-/.test(file)) return managerRuns;
  const log = new RegExp(`^logs/(${UUID})\\.log$`).exec(file);
  if (log !== null) return records.has(log[1] ?? "");
  const run = new RegExp(`^run/(${UUID})\\.(xauth|xvfb\\.log|go)$`).exec(file);
  if (run !== null) return liveIds.has(run[1] ?? "");
  const exit = /^exits\/(sandbox-[0-9a-f]{8})\.(died|closed|status)(\.tmp)?$/.exec(file);
  if (exit !== null) return [...records.values()].some((r) => r.tmux_session === exit[1]);
  return false;
}

async function filesIn(dir: string): Promise<string[]> {
  const result: string[] = [];
  for (const entry of await readdir(dir, { recursive: true })) {
    const info = await stat(join(dir, entry)).catch(() => null);
    if (info !== null && !info.isDirectory()) result.push(relative(dir, join(dir, entry)));
  }
  return result;
}

interface Proc {
  pid: number;
  argv: string[];
  /** argv and environment, NUL-separated. */
  text: string;
}

/** Processes whose arguments, environment or open files name a path in `dir` (Xvfb -auth, XAUTHORITY, a log…). */
async function processesOf(dir: string): Promise<Proc[]> {
  const result: Proc[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^[0-9]+$/.test(name) || Number(name) === process.pid) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, "utf8").catch(() => "");
    const environ = await readFile(`/proc/${name}/environ`, "utf8").catch(() => "");
    // Open files too: the log pipe's `cat` is named only by the log file it writes.
    const fds = await readdir(`/proc/${name}/fd`).catch(() => [] as string[]);
    const open = await Promise.all(fds.map((fd) => readlink(`/proc/${name}/fd/${fd}`).catch(() => "")));
    const fields = [...cmdline.split("\0"), ...environ.split("\0"), ...open];
    if (!fields.some((f) => f.startsWith(dir) || f.includes(`=${dir}/`) || f.endsWith(`=${dir}`))) continue;
    if (!alive(Number(name))) continue;
    result.push({
      pid: Number(name),
      argv: cmdline.split("\0").filter((a) => a !== ""),
      text: fields.join("\0"),
    });
  }
  return result;
}

async function tmuxPanes(stateDir: string): Promise<{ session: string; pid: number }[]> {
  const out = await managerTmux(stateDir, ["list-panes", "-a", "-F", "#{session_name} #{pane_pid}"]).catch(
    () => "", // no server
  );
  return out
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => ({ session: l.split(" ")[0] ?? "", pid: Number(l.split(" ")[1]) }));
}
