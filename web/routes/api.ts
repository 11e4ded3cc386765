import express, { type Router } from "express";
import type { WebDeps } from "../web-deps.js";

/** The documented REST endpoints under /api. */
export function apiRouter(_deps: WebDeps): Router {
  return express.Router();
}
