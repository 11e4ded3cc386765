// Claude Code's name for a project directory under ~/.claude/projects, the one rule the launcher also applies
// (launcher/bubblewrap/lib/mounts-claude.sh, csbx_claude_project_key; test/unit/claude-project-key.test.ts
// checks that both give the same names). The manager finds a sandbox's transcripts by it.

/** Names longer than this are cut and followed by a hash of the whole path. */
const MAX_KEY_LENGTH = 200;

/**
 * Every UTF-16 code unit that is not an ASCII letter or digit becomes '-' (no collapsing, so `/a/.b` is
 * `-a--b`); a name longer than 200 is cut at 200 and followed by '-' and the base-36 absolute value of a 32-bit
 * hash of the path's UTF-16 units (h = h * 31 + unit, wrapping), as Claude Code names it.
 */
export function claudeProjectKey(projectDir: string): string {
  const key = projectDir.replace(/[^a-zA-Z0-9]/g, "-");
  if (key.length <= MAX_KEY_LENGTH) return key;
  let h = 0;
  for (let i = 0; i < projectDir.length; i++) h = ((h << 5) - h + projectDir.charCodeAt(i)) | 0;
  return `${key.slice(0, MAX_KEY_LENGTH)}-${Math.abs(h).toString(36)}`;
}
