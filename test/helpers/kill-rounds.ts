// The loop the kill -9 fault tests share: per round, requests in flight, kill -9 of the manager at that round's
// moment, a restart on the same state directory, then the round's checks against the restarted manager.
import type { Sandbox } from "../../client/index.js";
import { describeKill, type KillAt, killMoment } from "./kill-moment.js";
import { createWorking } from "./sandbox-working.js";
import { type Daemon, stopDaemon } from "./start-daemon.js";

/**
 * A test file's own display range (12 numbers from `base`) and the manager environment that uses it, so the
 * X-socket checks see only the displays of that file's sandboxes.
 */
export function displayRange(base: number): { displays: number[]; env: Record<string, string> } {
  return {
    displays: Array.from({ length: 12 }, (_, i) => base + i),
    env: { MANAGER_DISPLAY_BASE: String(base) },
  };
}

/** `check`, with a failure's message prefixed by `context` (which round, which kill moment). */
export function inContext<T>(context: string, check: Promise<T>): Promise<T> {
  return check.catch((error: Error) => {
    throw new Error(`${context}: ${error.message}`);
  });
}

/** Whether a request answered (true) or failed, the manager having been killed under it (false). */
export function answered(request: Promise<unknown>): Promise<boolean> {
  return request.then(
    () => true,
    () => false,
  );
}

/** `count` working sandboxes named `round<round>-<i>`, created one after the other. */
export async function workingSandboxes(
  daemon: Daemon,
  projectDir: string,
  round: number,
  count: number,
): Promise<Sandbox[]> {
  const sandboxes: Sandbox[] = [];
  for (let i = 0; i < count; i++)
    sandboxes.push(await createWorking(daemon.client, `round${round}-${i}`, projectDir));
  return sandboxes;
}

export interface KillRound<P, A> {
  /** The restarted manager. */
  daemon: Daemon;
  /** What `prepare` made for the round. */
  prepared: P;
  /** What each request answered, in order. */
  answers: A[];
  /** "round N, kill …": for failure messages. */
  context: string;
}

export interface KillRoundsSpec<P, A> {
  /** Starts a manager on the test's state directory (the first one, and each restart). */
  start: () => Promise<Daemon>;
  kills: readonly KillAt[];
  /** Before the kill moment is armed: what the round's requests act on. */
  prepare: (daemon: Daemon, round: number) => Promise<P>;
  /** Sends the round's requests; each promise settles with what the request answered. */
  send: (daemon: Daemon, prepared: P) => Promise<A>[];
  /** After the restart. */
  check: (round: KillRound<P, A>) => Promise<void>;
}

/** Runs one round per kill moment, starting from `daemon`; returns the manager running after the last. */
export async function killRounds<P, A>(daemon: Daemon, spec: KillRoundsSpec<P, A>): Promise<Daemon> {
  let current = daemon;
  for (const [round, at] of spec.kills.entries()) {
    const prepared = await spec.prepare(current, round);
    const moment = killMoment(current.stateDir, at);
    const requests = spec.send(current, prepared);
    await moment;
    await stopDaemon(current, "SIGKILL");
    const answers = await Promise.all(requests);
    current = await spec.start();
    await spec.check({ daemon: current, prepared, answers, context: `round ${round}, ${describeKill(at)}` });
  }
  return current;
}
