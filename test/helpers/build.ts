import { execFile } from "node:child_process";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const DAEMON_ENTRY = join(REPO_ROOT, "dist/server/main.js");

// Every directory tsconfig.build.json compiles: the daemon imports web/, the tests import bench/.
const SOURCE_DIRS = ["server", "client", "launcher", "web", "cli", "gen", "bench"];

/**
 * Compiles the project (`tsc -p tsconfig.build.json` and the native addon, as `npm run build` does) unless
 * dist/server/main.js is newer than every source file it can depend on, so daemon tests always run the code
 * under test without each test file paying for a full build.
 */
export async function ensureBuilt(): Promise<void> {
  const built = await mtimeOf(DAEMON_ENTRY);
  if (built !== undefined && built >= (await newestSource())) return buildNative();
  const tsc = join(REPO_ROOT, "node_modules/typescript/bin/tsc");
  try {
    await promisify(execFile)(process.execPath, [tsc, "-p", "tsconfig.build.json"], {
      cwd: REPO_ROOT,
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (err) {
    const out = (err as { stdout?: string }).stdout ?? "";
    throw new Error(`npm run build failed:\n${out}`, { cause: err });
  }
  await buildNative();
}

/** The native part of `npm run build` (scripts/build-native.mjs), which skips itself when up to date. */
async function buildNative(): Promise<void> {
  try {
    await promisify(execFile)(process.execPath, [join(REPO_ROOT, "scripts/build-native.mjs")], {
      cwd: REPO_ROOT,
    });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? "";
    throw new Error(`building the native addon failed:\n${stderr}`, { cause: err });
  }
}

async function mtimeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).mtimeMs;
  } catch {
    return undefined;
  }
}

async function newestSource(): Promise<number> {
  let newest = 0;
  for (const dir of SOURCE_DIRS) {
    const entries = await readdir(join(REPO_ROOT, dir), { recursive: true, withFileTypes: true });
    for (const entry of entries) {
      if (!entry.isFile() || !entry.name.endsWith(".ts")) continue;
      newest = Math.max(newest, (await stat(join(entry.parentPath, entry.name))).mtimeMs);
    }
  }
  return newest;
}
