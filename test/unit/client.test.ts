import { describe, expect, it } from "vitest";
import { createSandboxClient } from "../../client/index.js";

describe("createSandboxClient", () => {
  it("reports an unreachable manager as unavailable", async () => {
    const client = createSandboxClient({ socketPath: "/nonexistent/claude-sandbox-test.sock" });
    await expect(client.listSandboxes({})).rejects.toMatchObject({ code: 14 });
  });
});
