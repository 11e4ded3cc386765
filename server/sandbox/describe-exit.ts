import { constants } from "node:os";

export interface ExitDescription {
  reason: string;
  exitCode: number | null;
  exitSignal: string | null;
}

const SIGNAL_NAMES = new Map<number, string>(Object.entries(constants.signals).map(([name, n]) => [n, name]));

/** Turns tmux's pane_dead_status / pane_dead_signal into the record's exit fields and a reason for people. */
export function describeExit(code: number | null, signal: number | null): ExitDescription {
  if (signal !== null && signal > 0) {
    const name = SIGNAL_NAMES.get(signal) ?? `signal ${signal}`;
    return { reason: `the launcher was killed by ${name}`, exitCode: null, exitSignal: name };
  }
  if (code !== null)
    return { reason: `the launcher exited with status ${code}`, exitCode: code, exitSignal: null };
  return { reason: "the launcher exited", exitCode: null, exitSignal: null };
}
