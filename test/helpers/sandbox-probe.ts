import { chown, copyFile, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Result } from "execa";
import type { SandboxFixture } from "./sandbox-home.js";
import { describeRun, type LaunchOptions, REPO, runLauncher } from "./sandbox-launcher.js";

export const PROBE_SOURCE = path.join(REPO, "test", "fixtures", "probe", "probe.py");

/** One attempt reported by the probe from inside the sandbox. */
export interface ProbeResult {
  name: string;
  blocked: boolean;
  detail: string;
}

export interface ProbeRun {
  results: ProbeResult[];
  run: Result<{ reject: false }>;
  byName(name: string): ProbeResult;
  /** The run's full output, for failure messages. */
  describe(): string;
}

/**
 * Copies the probe into the project (the only host dir the sandbox is promised to see), writes its config and
 * returns the bash arguments that run it: `-c 'exec python3 "$@"' probe PROBE CONFIG GROUP…` (argv, no
 * interpolation).
 */
export async function installProbe(
  fx: SandboxFixture,
  config: Record<string, unknown>,
  groups: string[],
  label = "probe",
): Promise<string[]> {
  const dir = path.join(fx.project, ".probe");
  await mkdir(dir, { recursive: true });
  const probe = path.join(dir, "probe.py");
  const cfgFile = path.join(dir, `${label}.json`);
  await copyFile(PROBE_SOURCE, probe);
  const full = {
    home: fx.home,
    project: fx.project,
    token: fx.token,
    secretMarker: fx.secretMarker,
    envSecret: fx.envSecret,
    ghToken: fx.ghToken,
    ...config,
  };
  await writeFile(cfgFile, JSON.stringify(full, null, 2));
  for (const p of [dir, probe, cfgFile]) await chown(p, fx.owner.uid, fx.owner.gid);
  return ["-c", 'exec /usr/bin/python3 "$@"', "probe", probe, cfgFile, ...groups];
}

export function parseProbe(stdout: string): ProbeResult[] {
  const results: ProbeResult[] = [];
  for (const line of stdout.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const r = JSON.parse(line) as ProbeResult;
      if (typeof r.name === "string" && typeof r.blocked === "boolean") results.push(r);
    } catch {
      // not a probe line (the agent or launcher printed something that looks like JSON)
    }
  }
  return results;
}

/** Runs the probe in a sandbox started with `flags` (e.g. ["--new", "--no-network"]) and parses its report. */
export async function runProbe(
  fx: SandboxFixture,
  flags: string[],
  config: Record<string, unknown>,
  groups: string[],
  opts: LaunchOptions = {},
): Promise<ProbeRun> {
  const bashArgs = await installProbe(fx, config, groups);
  const run = await runLauncher(fx, [...flags, "--shell", fx.project, "--", ...bashArgs], opts);
  const results = parseProbe(String(run.stdout));
  const describe = () => describeRun(run);
  return {
    results,
    run,
    describe,
    byName(name) {
      const r = results.find((x) => x.name === name);
      if (!r) {
        throw new Error(
          `probe reported no attempt named ${name}; it reported: ${results.map((x) => x.name).join(", ")}\n${describe()}`,
        );
      }
      return r;
    },
  };
}

/** Failure text listing every attempt that got through, with the probe's detail. */
export function leaks(results: ProbeResult[]): string {
  return results
    .filter((r) => !r.blocked)
    .map((r) => `NOT BLOCKED ${r.name}: ${r.detail}`)
    .join("\n");
}
