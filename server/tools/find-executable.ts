import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { delimiter, isAbsolute, join } from "node:path";

/**
 * Resolves a command the way execvp would: an absolute path is checked as is, a bare name is looked up in
 * each PATH entry. Returns null when nothing executable is found, so callers can name the missing tool.
 */
export async function findExecutable(command: string, searchPath: string): Promise<string | null> {
  if (isAbsolute(command)) return (await isExecutableFile(command)) ? command : null;
  if (command.includes("/") || command === "") return null;
  for (const dir of searchPath.split(delimiter)) {
    // An empty PATH entry means the current directory; a manager must never run whatever happens to be there.
    if (dir === "" || !isAbsolute(dir)) continue;
    const candidate = join(dir, command);
    if (await isExecutableFile(candidate)) return candidate;
  }
  return null;
}

async function isExecutableFile(file: string): Promise<boolean> {
  try {
    const info = await stat(file);
    if (!info.isFile()) return false;
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
