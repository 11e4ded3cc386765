// Claude metrics of a project: its transcripts under `<projects dir>/<key>/` (session files and their
// subagents/ files), kept parsed between requests so each refresh reads only what was appended.
import type { Dirent } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { PriceTable } from "./price-table.js";
import { claudeProjectKey } from "./project-key.js";
import { type FileCursor, newCursor, readAppended } from "./transcript-file.js";
import { parseTranscriptLine } from "./transcript-line.js";
import { type UsageReport, UsageTally } from "./usage-tally.js";

export interface ClaudeUsageOptions {
  /**
   * The `projects` directory the sandboxes' agents write their sessions to: the launcher binds the host's
   * `~/.claude/projects/<key>` (of the HOME it runs with) into each sandbox.
   */
  projectsDir: string;
  prices: PriceTable;
  /** Projects kept parsed; the least recently asked-for is dropped beyond it. */
  maxProjects?: number;
}

export interface ClaudeUsage {
  /** The totals of the project's transcripts as they are now; zeros while it has none. */
  report(projectDir: string): Promise<UsageReport>;
  /** Where the project's transcripts are. */
  sessionsDir(projectDir: string): string;
}

// Session files sit at the top, subagents' in <session>/subagents/; deeper is not Claude Code's layout.
const MAX_DEPTH = 3;
// The directory is the sandbox's to fill: a cap keeps a flood of files from costing the manager.
const MAX_FILES = 10_000;

interface ProjectState {
  dir: string;
  files: Map<string, FileCursor>;
  tally: UsageTally;
  sessions: number;
  refreshing: Promise<UsageReport> | undefined;
}

export function createClaudeUsage(options: ClaudeUsageOptions): ClaudeUsage {
  const projects = new Map<string, ProjectState>();
  const maxProjects = options.maxProjects ?? 256;
  const sessionsDir = (projectDir: string) => join(options.projectsDir, claudeProjectKey(projectDir));

  const stateOf = (projectDir: string): ProjectState => {
    let state = projects.get(projectDir);
    if (state !== undefined) {
      projects.delete(projectDir);
    } else {
      state = {
        dir: sessionsDir(projectDir),
        files: new Map(),
        tally: new UsageTally(),
        sessions: 0,
        refreshing: undefined,
      };
    }
    projects.set(projectDir, state);
    for (const old of projects.keys()) {
      if (projects.size <= maxProjects) break;
      projects.delete(old);
    }
    return state;
  };

  const refresh = async (state: ProjectState): Promise<UsageReport> => {
    // A file that shrank, was replaced or vanished takes back what it added; the simple way that is always
    // right is to read the project again from the start, and it is rare.
    for (let pass = 0; pass < 2; pass++) {
      const paths = await listTranscripts(state.dir);
      const present = new Set(paths);
      let reset = [...state.files.keys()].some((p) => !present.has(p));
      if (!reset) {
        for (const rel of paths) {
          let cursor = state.files.get(rel);
          if (cursor === undefined) {
            cursor = newCursor();
            state.files.set(rel, cursor);
          }
          const file = rel;
          const outcome = await readAppended(
            join(state.dir, rel),
            cursor,
            (line) => state.tally.add(file, parseTranscriptLine(line)),
            () => state.tally.add(file, { kind: "malformed" }),
          );
          if (outcome === "reset") {
            reset = true;
            break;
          }
        }
      }
      state.sessions = paths.filter((p) => !p.includes("/")).length;
      if (!reset) break;
      state.files.clear();
      state.tally = new UsageTally();
    }
    return state.tally.report(options.prices, state.sessions);
  };

  return {
    sessionsDir,
    async report(projectDir) {
      const state = stateOf(projectDir);
      // Requests that arrive during a refresh share it.
      if (state.refreshing === undefined) {
        state.refreshing = refresh(state).finally(() => {
          state.refreshing = undefined;
        });
      }
      return state.refreshing;
    },
  };
}

/** The project's `*.jsonl` files, relative to its directory, in a stable order. Symlinks are not followed. */
async function listTranscripts(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (rel: string, depth: number): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(rel === "" ? dir : join(dir, rel), { withFileTypes: true });
    } catch {
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (found.length >= MAX_FILES) return;
      const path = rel === "" ? entry.name : `${rel}/${entry.name}`;
      if (entry.isFile() && entry.name.endsWith(".jsonl")) found.push(path);
      else if (entry.isDirectory() && depth < MAX_DEPTH) await walk(path, depth + 1);
    }
  };
  await walk("", 1);
  return found;
}
