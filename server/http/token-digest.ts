import { createHash } from "node:crypto";

/** Tokens are compared as digests: equal lengths, so timingSafeEqual applies whatever was sent. */
export function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}
