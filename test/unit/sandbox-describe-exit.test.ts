import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { describeExit } from "../../server/sandbox/describe-exit.js";
import { wrapLauncher } from "../../server/sandbox/launcher-argv.js";

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

describe("pane wrapper", () => {
  it("waits for the display number, runs the argv as given with DISPLAY set, records and returns its status", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wrapper-"));
    try {
      const files = { statusFile: join(dir, "sandbox-00000000.status"), goFifo: join(dir, "go") };
      execFileSync("mkfifo", [files.goFifo]);
      const [cmd, ...args] = wrapLauncher("/bin/sh", files, [
        "bash",
        "-c",
        'printf "%s|" "$DISPLAY" "$@"; exit 7',
        "x",
        "a b",
        "$(id)",
      ]);
      const child = spawn(cmd as string, args, { stdio: ["ignore", "pipe", "inherit"] });
      let out = "";
      child.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString();
      });
      const exited = once(child, "exit");
      await new Promise((r) => setTimeout(r, 50));
      expect(out).toBe(""); // nothing runs before the go
      writeFileSync(files.goFifo, "42\n");
      const [status] = await exited;
      expect(status).toBe(7);
      expect(out).toBe(":42|a b|$(id)|");
      expect(readFileSync(files.statusFile, "utf8")).toBe("7\n");
      expect(existsSync(files.goFifo)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a display that is not a number, running nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wrapper-"));
    try {
      const files = { statusFile: join(dir, "status"), goFifo: join(dir, "go") };
      execFileSync("mkfifo", [files.goFifo]);
      const [cmd, ...args] = wrapLauncher("/bin/sh", files, ["touch", join(dir, "ran")]);
      const child = spawn(cmd as string, args, { stdio: "ignore" });
      const exited = once(child, "exit");
      writeFileSync(files.goFifo, "1; touch /tmp/x\n");
      expect((await exited)[0]).toBe(125);
      expect(existsSync(join(dir, "ran"))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
