import { createHash, randomBytes } from "node:crypto";
import { chmod, chown, lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { claudeProjectKey } from "./claude-home.js";
import { killStragglers } from "./sandbox-launcher.js";
import type { SandboxUser } from "./sandbox-user.js";
import { type Fixtures, type FixturesOptions, useFixtures } from "./use-fixtures.js";

/** A temp HOME full of planted secrets, a project dir, and a dir outside every mount, owned by one user. */
export interface SandboxFixture {
  /** Parent of everything below; removed by cleanup(). */
  root: string;
  home: string;
  project: string;
  /** Never mounted into a sandbox: holds a secret file and host-side sockets. */
  outside: string;
  owner: SandboxUser;
  /** Unique per fixture; the probe writes it into everything it tries to change. */
  token: string;
  /** Content of every planted secret file; a leak is this string showing up inside. */
  secretMarker: string;
  /** Value of AWS_SECRET_ACCESS_KEY (and another non-allowlisted variable) in the launcher's environment. */
  envSecret: string;
  ghToken: string;
  /** Host files whose content must be the same after any sandbox run (planted dotfiles, ~/.claude config). */
  guarded: string[];
  cleanup(): Promise<void>;
}

/**
 * The only path under the host's ~/.claude a sandbox of `project` may write: that project's sessions. Everything
 * else there (the user's configuration, the global .config.json, other projects' sessions, names Claude Code adds
 * later) must stay as it was, whatever the sandbox does in its own ~/.claude.
 */
export function claudeSessionsDir(home: string, project: string): string {
  return path.join(home, ".claude", "projects", claudeProjectKey(project));
}

/** chown -R, for files a test plants after the fixture was created. */
export async function chownTree(p: string, user: SandboxUser): Promise<void> {
  await chown(p, user.uid, user.gid);
  const st = await lstat(p);
  if (!st.isDirectory()) return;
  for (const entry of await readdir(p)) await chownTree(path.join(p, entry), user);
}

async function plant(file: string, content: string, mode = 0o644): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content, { mode });
  await chmod(file, mode);
}

/**
 * Creates the fixture. Some of the user's ~/.claude configuration exists on the host (settings.json, hooks/,
 * commands/) and some does not (agents/, plugins/, settings.local.json): a launcher that only guards what exists
 * would let the sandbox create the missing ones on the host.
 */
export async function createSandboxFixture(owner: SandboxUser): Promise<SandboxFixture> {
  const root = await mkdtemp(path.join(tmpdir(), "csbx-escape-"));
  const token = randomBytes(6).toString("hex");
  const secretMarker = `PLANTED-SECRET-${token}`;
  const envSecret = `aws-secret-${randomBytes(12).toString("hex")}`;
  const ghToken = `ghp_${randomBytes(16).toString("hex")}`;
  const home = path.join(root, "home");
  const project = path.join(root, "project");
  const outside = path.join(root, "outside");
  await mkdir(project, { recursive: true });
  await mkdir(outside, { recursive: true });

  const guarded: string[] = [];
  const guard = async (file: string, content: string, mode?: number) => {
    await plant(file, content, mode);
    guarded.push(file);
  };
  await guard(path.join(outside, "secret.txt"), `${secretMarker}\n`);
  await guard(
    path.join(home, ".ssh", "id_ed25519"),
    `-----BEGIN OPENSSH PRIVATE KEY-----\n${secretMarker}\n`,
    0o600,
  );
  await guard(path.join(home, ".ssh", "id_rsa"), `${secretMarker}\n`, 0o600);
  await guard(path.join(home, ".ssh", "config"), "Host example\n  User git\n");
  await guard(
    path.join(home, ".ssh", "known_hosts"),
    "example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAtest\n",
  );
  await guard(
    path.join(home, ".aws", "credentials"),
    `[default]\naws_secret_access_key = ${secretMarker}\n`,
    0o600,
  );
  await guard(path.join(home, ".bashrc"), "# host bashrc\n");
  await guard(path.join(home, ".profile"), "# host profile\n");
  await guard(path.join(home, ".gitconfig"), "[user]\n\tname = Escape Test\n\temail = escape@example.com\n");
  await guard(path.join(home, ".config", "git", "config"), "[core]\n\tautocrlf = false\n");
  await guard(path.join(home, ".config", "gh", "hosts.yml"), `github.com:\n  oauth_token: ${secretMarker}\n`);
  await guard(path.join(home, ".claude.json"), `{"numStartups": 1, "marker": "${token}"}\n`, 0o600);
  await guard(path.join(home, ".claude", "settings.json"), '{"permissions": {"allow": []}}\n');
  await guard(path.join(home, ".claude", "hooks", "pre.sh"), "#!/bin/sh\nexit 0\n", 0o755);
  await guard(path.join(home, ".claude", "commands", "existing.md"), "# existing command\n");
  // What a Claude Code session running unsandboxed on the host keeps here and sources before each command.
  await guard(
    path.join(home, ".claude", "shell-snapshots", "snapshot-bash-1795000000000-abc123.sh"),
    "# snapshot\n",
  );
  await mkdir(path.join(home, ".claude", "projects"), { recursive: true });
  await chmod(root, 0o755);
  await chownTree(root, owner);
  // The root dir stays root-owned-then-chowned to the user, like any user's temp dir.
  return {
    root,
    home,
    project,
    outside,
    owner,
    token,
    secretMarker,
    envSecret,
    ghToken,
    guarded,
    cleanup: () => rm(root, { recursive: true, force: true, maxRetries: 3 }),
  };
}

/** Hands out sandbox fixtures; after the test that made one, what still runs under it is killed and it is removed. */
export function useSandboxFixture(
  options: FixturesOptions<SandboxFixture> = {},
): Fixtures<Parameters<typeof createSandboxFixture>, SandboxFixture> {
  const cleanup = async (fx: SandboxFixture) => {
    await killStragglers(fx.root);
    await fx.cleanup();
  };
  return useFixtures(createSandboxFixture, cleanup, options);
}

async function walk(p: string, out: Map<string, string>): Promise<void> {
  let st: Awaited<ReturnType<typeof lstat>>;
  try {
    st = await lstat(p);
  } catch {
    return;
  }
  if (st.isDirectory()) {
    for (const entry of await readdir(p)) await walk(path.join(p, entry), out);
    return;
  }
  const body = st.isFile() ? await readFile(p) : Buffer.from(`special mode=${st.mode}`);
  out.set(p, `${st.mode.toString(8)}:${createHash("sha256").update(body).digest("hex")}`);
}

/** Content hashes of every file below each root (missing roots are simply absent). */
export async function snapshotFiles(roots: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const r of roots) await walk(r, out);
  return out;
}

/** Human-readable list of files added, removed or changed between two snapshots. */
export function diffSnapshots(before: Map<string, string>, after: Map<string, string>): string[] {
  const changes: string[] = [];
  for (const [p, h] of after) {
    if (!before.has(p)) changes.push(`created ${p}`);
    else if (before.get(p) !== h) changes.push(`changed ${p}`);
  }
  for (const p of before.keys()) if (!after.has(p)) changes.push(`removed ${p}`);
  return changes.sort();
}

const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/**
 * Drops "created" entries for empty files: the launcher may create empty placeholders on the host so it has
 * something to bind read-only over a protected path that did not exist. Anything with content, and any change
 * to an existing file, stays.
 */
export function withoutPlaceholders(changes: string[], after: Map<string, string>): string[] {
  return changes.filter(
    (c) => !(c.startsWith("created ") && after.get(c.slice(8))?.endsWith(`:${EMPTY_SHA256}`)),
  );
}
