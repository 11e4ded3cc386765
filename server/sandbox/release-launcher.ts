import { writeToFifo } from "../tools/fifo.js";
import { SandboxError } from "./errors.js";

/** Lets the wrapper start the launcher: it waits for the display number on its FIFO. */
export async function releaseLauncher(fifo: string, display: number): Promise<void> {
  try {
    await writeToFifo(fifo, `${display}\n`, 10_000);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new SandboxError("internal", `could not start the launcher: its pane is not waiting (${code})`);
  }
}
