import { CloseCode } from "@hubcast/protocol";
import type { NodeContext } from "../context.js";
import { TokenBucket } from "../limits.js";

/** A connection turned away at admission. */
export interface Refusal {
  code: CloseCode;
  reason: string;
  retryAfterMs?: number;
}

/**
 * The node's door, shared by every transport: the admission rate (maxConnectionsPerSecond)
 * and the per-address limit (maxConnectionsPerIp) count WebSocket connections and streams alike.
 */
export class Admission {
  private readonly bucket: TokenBucket | undefined;

  constructor(private readonly ctx: NodeContext) {
    const perSecond = ctx.options.maxConnectionsPerSecond;
    if (perSecond > 0) this.bucket = new TokenBucket(perSecond, perSecond, Date.now());
  }

  /** Why a new connection from `remoteAddress` must be turned away now, if it must; counted in the metrics. */
  check(remoteAddress: string | undefined): Refusal | undefined {
    const refusal = this.refusal(remoteAddress);
    if (refusal !== undefined) {
      this.ctx.metrics.limitRejected(refusal.code === CloseCode.tryLater ? "admission" : "connections_per_ip");
      this.ctx.metrics.disconnected(refusal.code);
    }
    return refusal;
  }

  private refusal(remoteAddress: string | undefined): Refusal | undefined {
    const now = Date.now();
    if (this.bucket !== undefined && !this.bucket.take(now)) {
      // Spread the excess over the time the bucket needs to admit them all, at least a second.
      const retryAfterMs = Math.max(1_000, this.bucket.waitMs(now) * 2);
      return {
        code: CloseCode.tryLater,
        reason: "node is admitting connections at its limit; retry later",
        retryAfterMs,
      };
    }
    const { maxConnectionsPerIp } = this.ctx.options;
    if (maxConnectionsPerIp > 0 && this.ctx.connections.perIp.count(remoteAddress ?? "") >= maxConnectionsPerIp) {
      return {
        code: CloseCode.connectionLimit,
        reason: `this address already holds ${maxConnectionsPerIp} connections`,
      };
    }
    return undefined;
  }
}
