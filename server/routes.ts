import type { ConnectRouter } from "@connectrpc/connect";
import { SandboxService } from "../gen/claude_sandbox/v1/sandbox_service_pb.js";
import { createSandboxService, type SandboxServiceDeps } from "./service/sandbox-service.js";

/** Registers every RPC service the daemon serves. */
export function createRoutes(deps: SandboxServiceDeps): (router: ConnectRouter) => void {
  return (router) => {
    router.service(SandboxService, createSandboxService(deps));
  };
}
