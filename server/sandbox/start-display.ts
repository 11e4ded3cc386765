import { DisplayInUseError, type RunningXvfb, startXvfb } from "../tools/xvfb.js";
import type { DisplayAllocator } from "./display-allocator.js";
import type { Tools } from "./resolve-tools.js";
import type { SandboxFiles } from "./sandbox-files.js";
import type { SpareFiles } from "./spare-files.js";

const XVFB_ATTEMPTS = 10;

export interface StartDisplayOptions {
  displays: DisplayAllocator;
  spares: SpareFiles;
  files: SandboxFiles;
  /** Xvfb screen geometry, WIDTHxHEIGHTxDEPTH. */
  screen: string;
  env: NodeJS.ProcessEnv;
}

/** Starts Xvfb on the reserved display, moving on to the next free number if another server takes it. */
export async function startDisplay(
  options: StartDisplayOptions,
  id: string,
  tools: Tools,
  first: number,
  onSpawned: () => void,
): Promise<RunningXvfb> {
  const { displays, files } = options;
  await options.spares.takeAuth(tools.xauth, files.authFile(id));
  const tried = new Set<number>();
  let display = first;
  for (let attempt = 1; ; attempt++) {
    try {
      return await startXvfb({
        xvfbPath: tools.xvfb,
        display,
        screen: options.screen,
        authFile: files.authFile(id),
        stderrFile: files.xvfbLog(id),
        env: options.env,
        onSpawned,
      });
    } catch (error) {
      displays.release(display);
      if (!(error instanceof DisplayInUseError) || attempt >= XVFB_ATTEMPTS) throw error;
      tried.add(display);
      display = displays.reserve(tried);
    }
  }
}
