export * from "../gen/claude_sandbox/v1/sandbox_service_pb.js";
export type { SandboxClient, SandboxClientOptions } from "./create-client.js";
export { createSandboxClient } from "./create-client.js";
