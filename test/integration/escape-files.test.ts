import { existsSync, readdirSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { privateClaudeDir } from "../helpers/claude-home.js";
import { stateDirFor } from "../helpers/launcher-harness.js";
import { requires } from "../helpers/requires.js";
import {
  chownTree,
  claudeSessionsDir,
  diffSnapshots,
  type SandboxFixture,
  snapshotFiles,
  useSandboxFixture,
  withoutPlaceholders,
} from "../helpers/sandbox-home.js";
import { leaks, type ProbeResult, runProbe } from "../helpers/sandbox-probe.js";
import { ensureTestUser, ROOT, type SandboxUser } from "../helpers/sandbox-user.js";

// Skipped, saying why, on a machine without these.
const missing = requires("root", "userns");

// Files a sandboxed agent must neither read nor change: host files outside the mounts, other users' homes,
// planted keys and credentials, HOME dotfiles, ~/.claude config that would run on the host, /usr, host /tmp.
// Run as root (a manager or CI) and as an ordinary user; both must hold every promise.

const users: [string, () => SandboxUser][] = [
  ["root", () => ROOT],
  ["unprivileged user", ensureTestUser],
];

const fixtures = useSandboxFixture({
  beforeCleanup: async (fx) => {
    await Promise.all(
      ["/tmp", "/usr", "/usr/local", "/etc"].map((d) =>
        rm(path.join(d, `escape-${fx.token}`), { force: true }),
      ),
    );
  },
});
const scratchFiles: string[] = [];
afterEach(async () => {
  for (const p of scratchFiles.splice(0)) await rm(p, { force: true });
});

function hostEntries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

async function filesConfig(f: SandboxFixture) {
  // Another project's state (its Chromium profile): a sandbox sees its own state dir only.
  const otherState = path.join(f.home, ".local", "state", "claude-sandbox", "projects", "other-0123456789ab");
  await mkdir(path.join(otherState, "chromium", "Default"), { recursive: true });
  const cookies = path.join(otherState, "chromium", "Default", "Cookies");
  await writeFile(cookies, `${f.secretMarker}\n`);
  await chownTree(path.join(f.home, ".local"), f.owner);
  const outsideSecret = path.join(f.outside, "secret.txt");
  // Shared host scratch space (the seed bound host /dev/shm read-write): plant a secret in each.
  const scratch = [`/dev/shm/csbx-escape-${f.token}`, `/var/tmp/csbx-escape-${f.token}`];
  for (const p of scratch) {
    await writeFile(p, `${f.secretMarker}\n`, { mode: 0o644 });
    scratchFiles.push(p);
  }
  // A host TLS key: /etc/ssl is bound only in part, since a sandbox started by root could read private/.
  const tlsKey = `/etc/ssl/private/csbx-escape-${f.token}.key`;
  if (existsSync(path.dirname(tlsKey))) {
    await writeFile(tlsKey, `${f.secretMarker}\n`, { mode: 0o600 });
    scratchFiles.push(tlsKey);
  }
  const marked = [
    ...scratch,
    tlsKey,
    outsideSecret,
    `/proc/1/root${outsideSecret}`,
    `/proc/self/root${outsideSecret}`,
    cookies,
    path.join(f.home, ".aws", "credentials"),
    path.join(f.home, ".ssh", "id_rsa"),
  ];
  const otherHomes = hostEntries("/home").map((h) => path.join("/home", h, ".bashrc"));
  return {
    readTargets: [
      ...marked,
      "/etc/shadow",
      "/etc/gshadow",
      "/etc/ssh/ssh_host_ed25519_key",
      "/root/.bashrc",
      "/root/.ssh/authorized_keys",
      "/var/log/dpkg.log",
      ...otherHomes,
    ],
    markedTargets: marked,
    listTargets: [
      { path: "/home", hostEntries: hostEntries("/home") },
      { path: "/root", hostEntries: hostEntries("/root") },
      { path: "/var/lib", hostEntries: hostEntries("/var/lib") },
      { path: "/etc/ssl/private", hostEntries: hostEntries("/etc/ssl/private") },
      { path: f.outside, hostEntries: hostEntries(f.outside) },
    ],
    writeTargets: [
      `/tmp/escape-${f.token}`,
      `/usr/escape-${f.token}`,
      `/usr/local/escape-${f.token}`,
      `/etc/escape-${f.token}`,
      path.join(f.outside, `escape-${f.token}`),
      path.join(f.home, ".bashrc"),
      path.join(f.home, ".profile"),
      path.join(f.home, ".ssh", "authorized_keys"),
    ],
  };
}

/**
 * Attempts that succeed inside by design (a private tmpfs, the rw project, the project's own ~/.claude); the host
 * check decides, and the ~/.claude test below judges the claude-* ones one by one.
 */
const HOST_JUDGED = /^write:|^home-write:\.claude\.json$|^claude-/;

function mustBeBlocked(results: ProbeResult[]): ProbeResult[] {
  return results.filter((r) => !HOST_JUDGED.test(r.name));
}

/** Host files outside the sandbox's writable areas: all but this project's sessions and the state dir. */
async function hostView(f: SandboxFixture) {
  const sessions = claudeSessionsDir(f.home, f.project);
  const localDir = path.join(f.home, ".local");
  const snap = await snapshotFiles([f.outside, f.home]);
  for (const p of [...snap.keys()]) {
    if (p.startsWith(`${sessions}/`) || p.startsWith(`${localDir}/`)) snap.delete(p);
  }
  return snap;
}

describe.skipIf(missing).each(users)("files, as %s", (_label, user) => {
  test("cannot read host files, keys or other users' homes, nor change anything outside the project", async () => {
    const fx = await fixtures.create(user());
    const config = await filesConfig(fx);
    const before = await hostView(fx);
    const probe = await runProbe(fx, ["--new", "--no-network"], config, ["files", "writes", "claude", "env"]);
    expect(
      probe.results.some((r) => r.name === "probe-done"),
      probe.describe(),
    ).toBe(true);

    expect.soft(leaks(mustBeBlocked(probe.results)), probe.describe()).toBe("");

    const after = await hostView(fx);
    // The launcher may create empty placeholders on the host so it has something to bind read-only over a
    // protected path that did not exist; anything with content (or any change to an existing file) is a write.
    const changed = withoutPlaceholders(diffSnapshots(before, after), after);
    expect.soft(changed, "host files changed by the sandbox").toEqual([]);
    for (const dir of ["/tmp", "/usr", "/usr/local", "/etc"]) {
      const p = path.join(dir, `escape-${fx.token}`);
      expect.soft(existsSync(p), `${p} was created on the host`).toBe(false);
    }
  });

  test("~/.claude: the user's configuration is read-only inside, and what the sandbox writes elsewhere there stays in the project's own", async () => {
    const fx = await fixtures.create(user());
    const claude = path.join(fx.home, ".claude");
    const own = privateClaudeDir(stateDirFor(path.join(fx.home, ".local", "state"), fx.project));
    // The first path component of each attempt's target, e.g. "hooks" for claude-write:hooks/x.
    const entryOf = (name: string) => (name.split(":")[1] ?? "").split("/")[0] ?? "";
    const onHost = new Set(
      ["settings.json", "hooks", "commands"].filter((e) => existsSync(path.join(claude, e))),
    );
    expect([...onHost]).toEqual(["settings.json", "hooks", "commands"]);
    const before = await hostView(fx);
    const probe = await runProbe(fx, ["--new", "--no-network"], {}, ["claude"]);
    const attempts = probe.results.filter((r) => r.name.startsWith("claude-"));
    expect(attempts.length, probe.describe()).toBeGreaterThanOrEqual(14);
    // What the host has is shown read-only: every attempt on it is refused.
    const onHostAttempts = attempts.filter((r) => onHost.has(entryOf(r.name)));
    expect(onHostAttempts.length, probe.describe()).toBeGreaterThanOrEqual(8);
    expect.soft(leaks(onHostAttempts), probe.describe()).toBe("");
    // The rest lands in the project's own ~/.claude, never in the host's.
    for (const r of attempts.filter((a) => a.name.startsWith("claude-write:") && !a.blocked)) {
      const rel = r.name.slice("claude-write:".length);
      expect.soft(existsSync(path.join(claude, rel)), `${rel} reached the host`).toBe(false);
      // (The dir-swap attempts after the writes move agents/ and plugins/ aside, to <dir>.old-<token>.)
      const moved = rel.replace(/^[^/]+/, (d) => `${d}.old-${fx.token}`);
      expect
        .soft(
          existsSync(path.join(own, rel)) || existsSync(path.join(own, moved)),
          `${rel} is not in the project's own ~/.claude`,
        )
        .toBe(true);
    }
    // The rename attack writes its temp file next to settings.json: that part works, in the project's own dir.
    const tmp = `.settings-${fx.token}.tmp`;
    expect
      .soft(existsSync(path.join(own, tmp)), `~/.claude is not writable inside:\n${probe.describe()}`)
      .toBe(true);
    expect.soft(existsSync(path.join(claude, tmp)), "the temp file reached the host").toBe(false);
    expect.soft(diffSnapshots(before, await hostView(fx)), "host files changed by the sandbox").toEqual([]);
  });

  test("private SSH keys are readable only with --ssh-keys", async () => {
    const fx = await fixtures.create(user());
    const without = await runProbe(fx, ["--new", "--no-network"], {}, ["files"]);
    expect(without.byName("read-ssh-private-key").blocked, without.describe()).toBe(true);
    const withKeys = await runProbe(fx, ["--new", "--no-network", "--ssh-keys"], {}, ["files"]);
    expect(withKeys.byName("read-ssh-private-key"), withKeys.describe()).toMatchObject({ blocked: false });
  });

  test("GH_TOKEN and GITHUB_TOKEN cross only with --gh-token; other secrets never", async () => {
    const fx = await fixtures.create(user());
    const without = await runProbe(fx, ["--new", "--no-network"], {}, ["env"]);
    expect(without.byName("env-gh-token").blocked, without.describe()).toBe(true);
    const withToken = await runProbe(fx, ["--new", "--no-network", "--gh-token"], {}, ["env"]);
    const gh = withToken.byName("env-gh-token");
    expect(gh.blocked, withToken.describe()).toBe(false);
    expect(gh.detail, withToken.describe()).toContain("value-matches=True");
    const secretLeaks = withToken.results.filter((r) => r.name.startsWith("env-secret"));
    expect(secretLeaks.length, withToken.describe()).toBeGreaterThanOrEqual(4);
    expect.soft(leaks(secretLeaks), withToken.describe()).toBe("");
  });
});
