import { chown, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { SandboxUser } from "./sandbox-user.js";

/** Claude Code's directory name under ~/.claude/projects for a working directory (its own rule). */
export function claudeProjectKey(cwd: string): string {
  const key = cwd.replace(/[^a-zA-Z0-9]/g, "-");
  if (key.length <= 200) return key;
  let h = 0;
  for (let i = 0; i < cwd.length; i++) h = ((h << 5) - h + cwd.charCodeAt(i)) | 0;
  return `${key.slice(0, 200)}-${Math.abs(h).toString(36)}`;
}

/** The project's own ~/.claude, as the launcher keeps it in the project's state dir. */
export function privateClaudeDir(state: string): string {
  return path.join(state, "claude");
}

/**
 * Writes `home/rel` (its directories too) owned by `user` up to `home`, as the user's own files are.
 * Returns the file's path.
 */
export async function plantHome(
  home: string,
  user: SandboxUser,
  rel: string,
  content: string,
): Promise<string> {
  const file = path.join(home, rel);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
  let p = file;
  while (p.startsWith(`${home}/`) || p === home) {
    await chown(p, user.uid, user.gid);
    if (p === home) break;
    p = path.dirname(p);
  }
  return file;
}
