import { execFile } from "node:child_process";
import { stat } from "node:fs/promises";

/**
 * Leaves a Unix socket file at `path` that nobody listens on, the way a manager killed with SIGKILL does:
 * a child process listens there and is killed before it can remove the file.
 */
export async function makeStaleSocket(path: string): Promise<void> {
  const child = execFile(process.execPath, [
    "-e",
    "require('node:net').createServer().listen(process.argv[1], () => console.log('up'))",
    path,
  ]);
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout?.once("data", () => resolve());
      child.once("exit", (code) => reject(new Error(`socket holder exited early (${code})`)));
    });
  } finally {
    child.kill("SIGKILL");
    await new Promise((resolve) =>
      child.exitCode === null && child.signalCode === null ? child.once("exit", resolve) : resolve(null),
    );
  }
  if (!(await stat(path)).isSocket()) throw new Error(`${path} is not a socket`);
}
