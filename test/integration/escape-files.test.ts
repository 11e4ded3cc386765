import { existsSync, readdirSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import {
  chownTree,
  claudeProtectedPaths,
  diffSnapshots,
  type SandboxFixture,
  snapshotFiles,
  useSandboxFixture,
  withoutPlaceholders,
} from "../helpers/sandbox-home.js";
import { leaks, type ProbeResult, runProbe } from "../helpers/sandbox-probe.js";
import { ensureTestUser, ROOT, type SandboxUser } from "../helpers/sandbox-user.js";

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

/** Attempts that succeed inside by design (a private tmpfs, the rw project); the host check decides. */
const HOST_JUDGED = /^write:|^home-write:\.claude\.json$/;

function mustBeBlocked(results: ProbeResult[]): ProbeResult[] {
  return results.filter((r) => !HOST_JUDGED.test(r.name));
}

/** Host files outside the sandbox's writable areas (~/.claude minus its protected entries, the state dir). */
async function hostView(f: SandboxFixture) {
  const claudeDir = path.join(f.home, ".claude");
  const localDir = path.join(f.home, ".local");
  const guarded = claudeProtectedPaths(f.home);
  const snap = await snapshotFiles([f.outside, f.home]);
  for (const p of [...snap.keys()]) {
    const isProtected = guarded.some((q) => p === q || p.startsWith(`${q}/`));
    if ((p.startsWith(`${claudeDir}/`) && !isProtected) || p.startsWith(`${localDir}/`)) snap.delete(p);
  }
  return snap;
}

describe.each(users)("files, as %s", (_label, user) => {
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

  test("~/.claude stays writable for sessions while its config is read-only", async () => {
    const fx = await fixtures.create(user());
    const probe = await runProbe(fx, ["--new", "--no-network"], {}, ["claude"]);
    const protectedAttempts = probe.results.filter((r) => r.name.startsWith("claude-"));
    expect(protectedAttempts.length, probe.describe()).toBeGreaterThanOrEqual(14);
    expect.soft(leaks(protectedAttempts), probe.describe()).toBe("");
    // The rename attack writes its temp file next to settings.json: that part must work, since sessions,
    // todos and logins live in ~/.claude and must persist.
    const tmp = path.join(fx.home, ".claude", `.settings-${fx.token}.tmp`);
    expect.soft(existsSync(tmp), `~/.claude is not writable from inside:\n${probe.describe()}`).toBe(true);
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
