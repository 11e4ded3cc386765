import { constants } from "node:os";

export interface ExitDescription {
  reason: string;
  exitCode: number | null;
  exitSignal: string | null;
}

const SIGNAL_NAMES = new Map<number, string>(Object.entries(constants.signals).map(([name, n]) => [n, name]));

/**
 * Turns an exit status or signal into the record's exit fields and a reason for people. The launcher runs
 * under a small shell that exits with its status, so a launcher killed by signal N shows as status 128+N
 * (the shell convention); that is reported as the signal.
 */
export function describeExit(code: number | null, signal: number | null): ExitDescription {
  if ((signal === null || signal === 0) && code !== null && code > 128 && code <= 128 + 64) {
    return describeExit(null, code - 128);
  }
  if (signal !== null && signal > 0) {
    const name = SIGNAL_NAMES.get(signal) ?? `signal ${signal}`;
    return { reason: `the launcher was killed by ${name}`, exitCode: null, exitSignal: name };
  }
  if (code !== null)
    return { reason: `the launcher exited with status ${code}`, exitCode: code, exitSignal: null };
  return { reason: "the launcher exited", exitCode: null, exitSignal: null };
}
