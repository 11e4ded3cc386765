import { Code, ConnectError } from "@connectrpc/connect";

/** A uint64 offset from the wire as a number; beyond 2^53 no log can reach, so it is refused. */
export function toSafeOffset(field: string, value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ConnectError(`${field}: ${value} is beyond any log's size`, Code.InvalidArgument);
  }
  return Number(value);
}
