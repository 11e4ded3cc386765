export type { LogHubOptions, LogHubStats, LogHubWithStats } from "./create-log-hub.js";
export { createLogHub } from "./create-log-hub.js";
export type { LogEndReason, LogHub, LogRange, TailEvent, TailOptions } from "./log-hub.js";
export {
  checkOffset,
  DEFAULT_BACKLOG_LINES,
  DEFAULT_READ_LIMIT,
  MAX_READ_LIMIT,
  resolveReadLimit,
} from "./log-limits.js";
