import { ErrorCode } from "@hubcast/protocol";
import type { PublishResult } from "@hubcast/protocol";
import { ConnectionClosedError, HubcastError } from "./errors.js";

/** Per-call options of `client.publish` and `subscription.publish`. */
export interface PublishOptions {
  /**
   * 1 to 64 characters naming this publication for the server's idempotency window (5 min by
   * default): a publish repeating a key used in the channel within it is not made again and
   * resolves to the first position. @default a random key per call, reused by the SDK's own
   * retries of that call; pass your own to make your retries safe too
   */
  idempotencyKey?: string;
}

/** A random idempotency key: 32 hex digits from the platform's CSPRNG (also in insecure browser contexts). */
export function newIdempotencyKey(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Whether sending the same publish again (with the same key) is both safe and useful: the
 * connection closed after it was sent (it will go out on the next one), or the server said it
 * may (114 `outcome_unknown`) or surely did not (100 `internal`, temporary) make it. Not the
 * SDK's own timeout: the caller's time bound has passed.
 */
export function shouldResendPublish(error: unknown): boolean {
  if (error instanceof ConnectionClosedError) return true;
  if (!(error instanceof HubcastError) || !error.temporary) return false;
  return error.code === ErrorCode.outcomeUnknown || error.code === ErrorCode.internal;
}

/**
 * Runs `send` up to `attempts` times while {@link shouldResendPublish} says so; `send` must
 * carry the same idempotency key every time, so at most one attempt is published.
 */
export async function publishWithResends(send: () => Promise<PublishResult>, attempts: number): Promise<PublishResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (error) {
      if (attempt >= attempts || !shouldResendPublish(error)) throw error;
    }
  }
}
