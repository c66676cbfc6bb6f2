import type { RawPublication, StreamPosition } from "@hubcast/protocol";
import type { Logger } from "pino";
import { PublishExpiredError, PublishOutcomeUnknownError } from "./broker/broker.js";
import type { HistoryPolicy } from "./broker/broker.js";
import type { Engine } from "./engine/engine.js";
import type { Metrics, PublishSource } from "./metrics.js";
import { PublishFailure, PublishFailureKind } from "./publish-failure.js";
import { RateLimitedLog } from "./rate-limited-log.js";

const kindOf = (err: unknown): PublishFailureKind =>
  err instanceof PublishOutcomeUnknownError
    ? PublishFailureKind.outcomeUnknown
    : err instanceof PublishExpiredError
      ? PublishFailureKind.expired
      : PublishFailureKind.failed;

/**
 * Publishes for clients and the server API with the node's publish rules: a deadline
 * `publishTimeoutMs` from now (so a publish answered with a failure is never made later) and
 * the caller's idempotency key. Failures are counted by kind and, during an outage, logged
 * once per 10 s with a count, not once per publish.
 */
export class Publisher {
  private readonly failures: RateLimitedLog;

  constructor(
    private readonly engine: Engine,
    private readonly metrics: Pick<Metrics, "timePublish" | "publishFailed">,
    private readonly publishTimeoutMs: number,
    logger: Logger,
    now: () => number = Date.now,
  ) {
    this.failures = new RateLimitedLog(logger, "publishes are failing", 10_000, now);
  }

  /** Resolves to the position (or `undefined` without history); rejects only with {@link PublishFailure}. */
  async publish(
    source: PublishSource,
    pub: Omit<RawPublication, "offset">,
    history: HistoryPolicy,
    idempotencyKey?: string,
  ): Promise<StreamPosition | undefined> {
    const deadline = Date.now() + this.publishTimeoutMs;
    const options = idempotencyKey === undefined ? { deadline } : { deadline, idempotencyKey };
    try {
      return await this.metrics.timePublish(source, this.engine.broker.publish(pub, history, options));
    } catch (err) {
      const kind = kindOf(err);
      this.metrics.publishFailed(kind);
      this.failures.failure(err, { kind, source });
      throw new PublishFailure(kind, failureMessage(kind), { cause: err });
    }
  }
}

function failureMessage(kind: PublishFailureKind): string {
  switch (kind) {
    case PublishFailureKind.outcomeUnknown:
      return "no answer from the engine in time: the publish may or may not have been made, and will not be made later; retry with the same idempotency key";
    case PublishFailureKind.expired:
      return "publish not made: it reached the engine after its deadline; retry";
    case PublishFailureKind.failed:
      return "publish not made: the engine failed; retry later";
  }
}
