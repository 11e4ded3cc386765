import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { describeExit } from "../../server/sandbox/describe-exit.js";
import { withExitRecorder } from "../../server/sandbox/launcher-argv.js";

describe("exit description", () => {
  it.each([
    [3, null, { exitCode: 3, exitSignal: null, reason: "the launcher exited with status 3" }],
    [0, null, { exitCode: 0, exitSignal: null, reason: "the launcher exited with status 0" }],
    [null, 9, { exitCode: null, exitSignal: "SIGKILL", reason: "the launcher was killed by SIGKILL" }],
    [143, null, { exitCode: null, exitSignal: "SIGTERM", reason: "the launcher was killed by SIGTERM" }],
    [255, null, { exitCode: 255, exitSignal: null, reason: "the launcher exited with status 255" }],
    [null, null, { exitCode: null, exitSignal: null, reason: "the launcher exited" }],
  ])("status %j, signal %j", (code, signal, expected) => {
    expect(describeExit(code, signal)).toEqual(expected);
  });
});

describe("exit recorder", () => {
  it("runs the argv as given, records its status in the file and exits with it", () => {
    const dir = mkdtempSync(join(tmpdir(), "recorder-"));
    try {
      const file = join(dir, "sandbox-00000000.status");
      const [cmd, ...args] = withExitRecorder("/bin/sh", file, [
        "bash",
        "-c",
        'printf "%s|" "$@"; exit 7',
        "x",
        "a b",
        "$(id)",
      ]);
      let status = 0;
      let out = "";
      try {
        execFileSync(cmd as string, args, { encoding: "utf8" });
      } catch (error) {
        status = (error as { status: number }).status;
        out = (error as { stdout: string }).stdout;
      }
      expect(status).toBe(7);
      expect(out).toBe("a b|$(id)|");
      expect(readFileSync(file, "utf8")).toBe("7\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
