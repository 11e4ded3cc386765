import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { Sandbox } from "../client/index.js";
import { type SandboxView, toSandboxView } from "./sandbox-view.js";

export type SandboxListLocals = {
  sandboxes: SandboxView[];
  counts: { total: number; running: number; stopped: number; dead: number };
};

const createdMs = (s: Sandbox): number => (s.createdAt === undefined ? 0 : timestampMs(s.createdAt));

/** Newest first, as ListSandboxes answers; ties (same millisecond) by id, so the order never flickers. */
export function newestFirst(a: Sandbox, b: Sandbox): number {
  return createdMs(b) - createdMs(a) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** What partials/sandbox-list renders: the sandboxes as the page shows them and how many are in each status. */
export function sandboxListLocals(sandboxes: readonly Sandbox[], now: Date): SandboxListLocals {
  const views = [...sandboxes].sort(newestFirst).map((s) => toSandboxView(s, now));
  const counts = { total: views.length, running: 0, stopped: 0, dead: 0 };
  for (const view of views) {
    if (view.status === "running" || view.status === "stopped" || view.status === "dead")
      counts[view.status]++;
  }
  return { sandboxes: views, counts };
}
