// The installation's root: the directory holding package.json, launcher/ and dist/. The same whether this runs
// compiled (dist/server/…) or from the sources (tests), in a checkout, an npm install or the Nix store.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 5; up++) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "launcher"))) return dir;
    dir = dirname(dir);
  }
  throw new Error(
    `cannot find claude-sandbox's installation directory above ${fileURLToPath(import.meta.url)}`,
  );
}

export const PACKAGE_ROOT = findPackageRoot();
