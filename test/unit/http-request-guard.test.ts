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
  ])("refuses %j (%s)", (headers, why) => {
    expect(loopback({ headers })).toContain(why);
    expect(unix({ headers })).toContain(why);
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
