import { describe, expect, it } from "vitest";
import { createRequestGuard } from "../../server/http/request-guard.js";

const loopback = createRequestGuard({ kind: "tcp", host: "127.0.0.1", port: 3000 });
const unix = createRequestGuard({ kind: "unix", path: "/run/csm/api.sock" });
const exposed = createRequestGuard({ kind: "tcp", host: "0.0.0.0", port: 3000 });

describe("createRequestGuard", () => {
  it.each([
    [{ host: "127.0.0.1:3000" }],
    [{ host: "localhost:3000" }],
    [{ host: "localhost" }],
    [{ host: "[::1]:3000" }],
    [{ host: "127.0.0.2:8080" }],
    [{}],
    [{ host: "127.0.0.1:3000", origin: "http://127.0.0.1:3000" }],
    [{ host: "localhost:41234", origin: "http://localhost:41234" }],
    [{ host: "LocalHost:41234", origin: "http://localhost:41234" }],
    [{ host: "localhost:80", origin: "http://localhost" }],
    [{ ":authority": "127.0.0.1:3000" }],
  ])("serves a local client or same-machine page %j", (headers) => {
    expect(loopback({ headers })).toBeUndefined();
    expect(unix({ headers })).toBeUndefined();
  });

  it.each([
    [{ host: "evil.example:3000" }, "DNS rebinding"],
    [{ host: "evil.example" }, "DNS rebinding"],
    [{ host: "10.0.0.5:3000" }, "DNS rebinding"],
    [{ ":authority": "evil.example:3000" }, "DNS rebinding"],
    [{ host: "127.0.0.1:3000", origin: "https://evil.example" }, "cross-site"],
    [{ host: "127.0.0.1:3000", origin: "null" }, "cross-site"],
    [{ host: "127.0.0.1:3000", origin: "not a url" }, "cross-site"],
    // Another local web server is another origin: a dev server's page may not drive the manager.
    [{ host: "127.0.0.1:3000", origin: "http://127.0.0.1:5173" }, "cross-site"],
    [{ host: "localhost:3000", origin: "http://localhost:8080" }, "cross-site"],
    [{ host: "127.0.0.1:3000", origin: "http://localhost:3000" }, "cross-site"],
    [{ origin: "http://127.0.0.1:3000" }, "cross-site"],
    [{ host: "127.0.0.1:3000", origin: "ftp://127.0.0.1:3000" }, "cross-site"],
  ])("refuses %j (%s)", (headers, why) => {
    expect(loopback({ headers })).toContain(why);
    expect(unix({ headers })).toContain(why);
  });

  it("refuses a change asked for by another site even without an Origin, and lets it read", () => {
    const post = (site: string) => ({
      method: "POST",
      headers: { host: "127.0.0.1:3000", "sec-fetch-site": site },
    });
    expect(loopback(post("cross-site"))).toContain("cross-site");
    expect(loopback(post("same-site"))).toContain("cross-site");
    expect(
      loopback({ headers: { ":method": "DELETE", host: "127.0.0.1:3000", "sec-fetch-site": "cross-site" } }),
    ).toContain("cross-site");
    expect(loopback(post("same-origin"))).toBeUndefined();
    expect(loopback(post("none"))).toBeUndefined();
    // A link followed from another site opens the dashboard; the browser keeps the answer from that site.
    expect(
      loopback({ method: "GET", headers: { host: "127.0.0.1:3000", "sec-fetch-site": "cross-site" } }),
    ).toBeUndefined();
  });

  it("serves the names given in MANAGER_HOSTNAMES and no others", () => {
    const named = createRequestGuard(
      { kind: "tcp", host: "127.0.0.1", port: 3000 },
      { hostnames: ["devbox.internal"] },
    );
    expect(named({ headers: { host: "devbox.internal:3000" } })).toBeUndefined();
    expect(
      named({ headers: { host: "DevBox.Internal:3000", origin: "http://devbox.internal:3000" } }),
    ).toBeUndefined();
    expect(named({ headers: { host: "other.internal:3000" } })).toContain("DNS rebinding");
  });

  it("on a deliberately exposed listener accepts any Host but only same-origin browser requests", () => {
    expect(exposed({ headers: { host: "build-box.lan:3000" } })).toBeUndefined();
    expect(
      exposed({ headers: { host: "build-box.lan:3000", origin: "http://build-box.lan:3000" } }),
    ).toBeUndefined();
    expect(exposed({ headers: { host: "build-box.lan:3000", origin: "http://evil.example" } })).toContain(
      "cross-site",
    );
  });
});
