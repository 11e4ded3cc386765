import { findExecutable } from "../tools/find-executable.js";
import { missingLauncher, missingTool } from "./errors.js";
import { TOOL_PACKAGES } from "./launcher-argv.js";
import type { BackendName } from "./types.js";

/** Absolute paths of the programs a create runs. */
export interface Tools {
  sh: string;
  tmux: string;
  xvfb: string;
  xauth: string;
  mkfifo: string;
  launcher: string;
}

async function requireTool(command: string, debianPackage: string, searchPath: string): Promise<string> {
  const found = await findExecutable(command, searchPath);
  if (found === null) throw missingTool(command, debianPackage);
  return found;
}

/** Finds the tools and the backend's launcher on `searchPath`, or fails naming what to install. */
export async function resolveTools(
  backend: BackendName,
  launchers: Record<BackendName, string>,
  searchPath: string,
): Promise<Tools> {
  const [tmux, xvfb, xauth, mkfifo, sh] = await Promise.all([
    requireTool("tmux", TOOL_PACKAGES.tmux, searchPath),
    requireTool("Xvfb", TOOL_PACKAGES.Xvfb, searchPath),
    requireTool("xauth", TOOL_PACKAGES.xauth, searchPath),
    requireTool("mkfifo", TOOL_PACKAGES.mkfifo, searchPath),
    requireTool("sh", TOOL_PACKAGES.sh, searchPath),
  ]);
  const command = launchers[backend];
  const launcher = await findExecutable(command, searchPath);
  if (launcher === null) throw missingLauncher(backend, command);
  return { sh, tmux, xvfb, xauth, mkfifo, launcher };
}
