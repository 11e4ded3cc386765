import express, { type Router } from "express";
import type { WebDeps } from "../web-deps.js";

/** Server-sent events that keep open pages up to date (fed by WatchSandboxes). */
export function eventsRouter(_deps: WebDeps): Router {
  return express.Router();
}
