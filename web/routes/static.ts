import express, { type Router } from "express";
import { PUBLIC_DIR, VENDOR_FILES } from "../web-dirs.js";

/** /static/*: the dashboard's own files, and /static/vendor/* from the browser libraries' npm packages. */
export function staticRouter(): Router {
  const router = express.Router();
  router.get("/vendor/:name", (req, res, next) => {
    const file = VENDOR_FILES[req.params.name];
    if (file === undefined) {
      next();
      return;
    }
    res.sendFile(file, { maxAge: "1h", dotfiles: "deny" });
  });
  router.use(
    express.static(PUBLIC_DIR, { index: false, dotfiles: "deny", maxAge: "10m", fallthrough: true }),
  );
  return router;
}
