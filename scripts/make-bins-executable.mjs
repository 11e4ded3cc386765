// npm sets the executable bit on bin targets only at install time; a fresh `tsc` build writes them 0644.
// The manager and the tests run the compiled launchers directly, so mark every bin target executable here.
import { chmod, readFile } from "node:fs/promises";

const pkg = JSON.parse(await readFile(new URL("../package.json", import.meta.url), "utf8"));
for (const target of Object.values(pkg.bin ?? {})) {
  await chmod(new URL(`../${target}`, import.meta.url), 0o755);
}
