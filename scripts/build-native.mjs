// Compiles the manager's one native piece, server/native/peer-credentials.c, into
// dist/native/peer-credentials.node (part of `npm run build`). A Node-API addon needs only Node's own headers,
// which every Node install ships (include/node next to bin/node; Debian: libnode-dev), and a C compiler
// (Debian: gcc, libc6-dev); nothing is downloaded. Does nothing when the addon is newer than its source.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const source = join(root, "server/native/peer-credentials.c");
const output = join(root, "dist/native/peer-credentials.node");

function headerDir() {
  const prefix = dirname(dirname(process.execPath));
  const candidates = [
    join(prefix, "include/node"),
    join(process.config.variables.node_prefix ?? "/usr", "include/node"),
    "/usr/include/node",
    "/usr/local/include/node",
  ];
  const found = candidates.find((dir) => existsSync(join(dir, "node_api.h")));
  if (found === undefined) {
    throw new Error(
      `Node's headers (node_api.h) were not found in ${candidates.join(", ")}; install the Node.js headers ` +
        "(they come with nodejs.org and NodeSource builds; Debian's own nodejs has them in libnode-dev)",
    );
  }
  return found;
}

function upToDate() {
  try {
    return statSync(output).mtimeMs >= statSync(source).mtimeMs;
  } catch {
    return false;
  }
}

export function buildNative() {
  if (upToDate()) return;
  mkdirSync(dirname(output), { recursive: true });
  const compiler = process.env.CC || "cc";
  const partial = `${output}.${process.pid}`;
  try {
    execFileSync(
      compiler,
      ["-O2", "-Wall", "-Wextra", "-shared", "-fPIC", "-I", headerDir(), "-o", partial, source],
      { stdio: ["ignore", "inherit", "inherit"] },
    );
  } catch (err) {
    rmSync(partial, { force: true });
    const missing = err?.code === "ENOENT";
    throw new Error(
      missing
        ? `no C compiler (${compiler}) on PATH: install gcc and libc6-dev (bash scripts/setup.sh does)`
        : `compiling ${source} failed`,
      { cause: err },
    );
  }
  renameSync(partial, output);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    buildNative();
  } catch (err) {
    process.stderr.write(`build-native: ${err.message}\n`);
    process.exit(1);
  }
}
