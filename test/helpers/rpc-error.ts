// The error an RPC that must fail failed with: a test of a refusal fails if the call succeeded instead.
import { type Code, ConnectError } from "@connectrpc/connect";

/** The Connect error `call` was rejected with; throws if it resolved. */
export async function rpcError(call: Promise<unknown>): Promise<ConnectError> {
  const failure = await call.then(
    () => ({ resolved: true as const }),
    (error: unknown) => ({ resolved: false as const, error }),
  );
  if (failure.resolved) throw new Error("expected the call to fail");
  return ConnectError.from(failure.error);
}

/** The code and message (without the code's prefix) `call` was refused with; throws if it resolved. */
export async function codeOf(call: Promise<unknown>): Promise<{ code: Code; message: string }> {
  const error = await rpcError(call);
  return { code: error.code, message: error.rawMessage };
}
