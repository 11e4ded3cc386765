import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/** File descriptors of this process that point at `path`. */
export function openFdsTo(path: string): number {
  let count = 0;
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(path)) count += 1;
    } catch {
      // The fd closed while we looked.
    }
  }
  return count;
}

/** inotify watches held by this process (one line per watch in the fdinfo of each inotify fd). */
export function inotifyWatches(): number {
  let count = 0;
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) !== "anon_inode:inotify") continue;
      count += readFileSync(`/proc/self/fdinfo/${fd}`, "utf8")
        .split("\n")
        .filter((line) => line.startsWith("inotify wd:")).length;
    } catch {
      // The fd closed while we looked.
    }
  }
  return count;
}
