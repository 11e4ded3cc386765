import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

// The gateway runs from dist/web/ (built) or web/ (tests importing the sources); its templates and browser files
// stay in the source tree (web/views, web/public) either way, as nothing needs building.
const here = dirname(fileURLToPath(import.meta.url));
const WEB_DIR = [here, join(here, "../../web")].find((dir) => existsSync(join(dir, "views"))) ?? here;

export const VIEWS_DIR = join(WEB_DIR, "views");
export const PUBLIC_DIR = join(WEB_DIR, "public");

const require = createRequire(import.meta.url);

/**
 * Browser libraries served from /static/vendor/<name>, straight from their npm packages: no copies in the tree,
 * no CDN, and the version is the one package-lock.json pins.
 */
export const VENDOR_FILES: Readonly<Record<string, string>> = {
  "htmx.min.js": require.resolve("htmx.org/dist/htmx.min.js"),
  "htmx-ext-sse.js": require.resolve("htmx-ext-sse/dist/sse.min.js"),
  "xterm.mjs": require.resolve("@xterm/xterm/lib/xterm.mjs"),
  "xterm.css": require.resolve("@xterm/xterm/css/xterm.css"),
  "addon-fit.mjs": require.resolve("@xterm/addon-fit/lib/addon-fit.mjs"),
};
