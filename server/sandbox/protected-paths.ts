// The shared list of directories no sandbox gets as its project (launcher/protected-paths.json), as the manager
// reads it, and as the launcher reads it: a generated bash file (launcher/bubblewrap/lib/protected-paths.sh),
// since the launcher must not start jq on its launch path. A unit test keeps the two equal;
// `npm run protected-paths` rewrites the bash file.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PACKAGE_ROOT } from "../tools/package-root.js";

export interface ProtectedPaths {
  /** Relative to a home directory: a project may not be, hold or lie inside one. */
  home: readonly string[];
  /** Absolute: a project may not be one or lie inside one. */
  system: readonly string[];
  /** Absolute: a project may not be one or hold one. */
  holders: readonly string[];
}

export const PROTECTED_PATHS_JSON = join(PACKAGE_ROOT, "launcher/protected-paths.json");
export const PROTECTED_PATHS_SH = join(PACKAGE_ROOT, "launcher/bubblewrap/lib/protected-paths.sh");

// Plain path characters only, so the bash list needs no quoting and no entry can mean anything but a path.
const ENTRY = /^[A-Za-z0-9._+-]+(?:\/[A-Za-z0-9._+-]+)*$/;

/** Parses and checks the list; throws naming the key and entry that is wrong. */
export function parseProtectedPaths(text: string, source = PROTECTED_PATHS_JSON): ProtectedPaths {
  const json = JSON.parse(text) as Record<string, { paths?: unknown } | undefined>;
  const list = (key: keyof ProtectedPaths, absolute: boolean): string[] => {
    const paths = json[key]?.paths;
    if (!Array.isArray(paths)) throw new Error(`${source}: ${key}.paths must be a list of paths`);
    return paths.map((entry: unknown) => {
      const rest = absolute && typeof entry === "string" && entry.startsWith("/") ? entry.slice(1) : entry;
      const ok =
        typeof rest === "string" &&
        (absolute ? rest !== entry : true) &&
        ENTRY.test(rest) &&
        !rest.split("/").some((part) => part === "." || part === "..");
      if (!ok) {
        throw new Error(
          `${source}: ${key}.paths entry ${JSON.stringify(entry)} must be ${absolute ? "an absolute" : "a relative"} ` +
            "path of plain names (letters, digits, . _ + -), without . or .. components",
        );
      }
      return entry as string;
    });
  };
  return { home: list("home", false), system: list("system", true), holders: list("holders", true) };
}

let cached: ProtectedPaths | undefined;

/** The shared list, read once. */
export function protectedPaths(): ProtectedPaths {
  cached ??= parseProtectedPaths(readFileSync(PROTECTED_PATHS_JSON, "utf8"));
  return cached;
}

/** The launcher's copy of the list: bash arrays csbx_resolve_project loops over. */
export function renderProtectedPathsShell(paths: ProtectedPaths): string {
  const array = (name: string, entries: readonly string[]) =>
    [`${name}=(`, ...entries.map((e) => `  ${e}`), ")"].join("\n");
  return [
    "# shellcheck shell=bash disable=SC2034",
    "# Generated from launcher/protected-paths.json by `npm run protected-paths`: edit the JSON, not this file.",
    "# Sourced, not run, so the launch path reads the shared list without forking jq.",
    array("csbx_protected_home", paths.home),
    array("csbx_protected_system", paths.system),
    array("csbx_protected_holders", paths.holders),
    "",
  ].join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(PROTECTED_PATHS_SH, renderProtectedPathsShell(protectedPaths()));
  process.stdout.write(`wrote ${PROTECTED_PATHS_SH}\n`);
}
