import express, { type Router } from "express";
import type { WebDeps } from "../web-deps.js";

/** The dashboard's pages and their htmx fragments. */
export function pagesRouter(_deps: WebDeps): Router {
  return express.Router();
}
