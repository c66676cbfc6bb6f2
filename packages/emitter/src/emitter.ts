import type { JsonValue, StreamPosition } from "@hubcast/protocol";
import {
  DEFAULT_MAX_DATA_DEPTH,
  ErrorCode,
  MAX_DATA_DEPTH,
  encodeJsonData,
  jsonValueWithinDepth,
  parseJsonData,
  tooDeepProblem,
} from "@hubcast/protocol";
import type { RedisConnection, RedisTarget } from "./connection.js";
import { connectRedis } from "./connection.js";
import { RedisKeys } from "./keys.js";
import type { HistoryPolicy, PublishRetryOptions } from "./publish.js";
import { publishThroughRedis } from "./publish.js";

/** History options per namespace, named as in a node's config (other keys are ignored). */
export interface EmitterHistoryOptions {
  historySize?: number;
  historyTtlMs?: number;
  historyMetaTtlMs?: number;
}

export interface EmitterOptions {
  /** Key prefix; must match the nodes' `redisPrefix`. @default "hubcast" */
  prefix?: string;
  /** History options for channels without a namespace, as in the nodes' config. @default no history */
  channel?: EmitterHistoryOptions;
  /** History options per namespace: pass the nodes' `namespaces` object as it is. @default {} */
  namespaces?: Readonly<Record<string, EmitterHistoryOptions>>;
  /** Connection errors (Redis reconnects by itself). @default logged with console.error */
  onError?: (err: Error) => void;
  /**
   * Deepest nesting of arrays/objects in published data, 1 to 512; keep it equal to the
   * nodes' `maxDataDepth`. Deeper data is refused with {@link InvalidDataError}. @default 64
   */
  maxDataDepth?: number;
  /**
   * Largest published data, in bytes of UTF-8 JSON text; larger data is refused with
   * {@link InvalidDataError}. @default 1_048_576 (1 MiB, as the server API's body limit)
   */
  maxDataBytes?: number;
  /**
   * How long an idempotency key is remembered, in ms; keep it equal to the nodes'
   * `idempotencyWindowMs`. @default 300_000
   */
  idempotencyWindowMs?: number;
}

/** What makes one emitter publish safe to retry. */
export interface EmitterPublishOptions {
  /**
   * 1 to 64 characters, chosen by the caller. A publish whose key was used in the same
   * channel within the window (by this emitter, another or a node) is not made again and
   * resolves to the first position. Retry a failed publish with the same key.
   */
  idempotencyKey?: string;
  /**
   * Ms since the Unix epoch after which Redis must refuse the publish (rejecting with
   * PublishDeadlineError), so one that waited in a socket past it never runs late.
   * Redis's own clock decides. @default none
   */
  deadline?: number;
}

/** How long idempotency keys are remembered when no window is given, in ms (the nodes' default). */
export const DEFAULT_IDEMPOTENCY_WINDOW_MS = 300_000;

/** The emitter's `maxDataBytes` when none is given: the server API's body limit. */
export const DEFAULT_MAX_DATA_BYTES = 1_048_576;

/** Data the emitter refuses to publish; nothing was written. `code` is 107 `bad_request`. */
export class InvalidDataError extends Error {
  override readonly name = "InvalidDataError";
  readonly code = ErrorCode.badRequest;
}

function limit(name: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new TypeError(`${name} must be an integer from 1 to ${max}, got ${value}`);
  }
  return value;
}

const toPolicy = (o: EmitterHistoryOptions | undefined): HistoryPolicy => ({
  size: o?.historySize ?? 0,
  ttlMs: o?.historyTtlMs ?? 300_000,
  metaTtlMs: o?.historyMetaTtlMs ?? 86_400_000,
});

/**
 * Publishes into Hubcast channels from a backend process, straight through Redis: the
 * publications get the same offsets and history as those made through a node, and reach
 * every node's subscribers. Give it the same namespaces as the nodes so history matches.
 *
 * ```ts
 * const emitter = await RedisEmitter.connect({ url: "redis://127.0.0.1:6379" }, { namespaces });
 * await emitter.publish("chat:lobby", { text: "deploy finished" });
 * ```
 */
export class RedisEmitter {
  private readonly maxDataDepth: number;
  private readonly maxDataBytes: number;

  private constructor(
    private readonly redis: RedisConnection,
    private readonly keys: RedisKeys,
    private readonly options: EmitterOptions,
  ) {
    this.maxDataDepth = options.maxDataDepth ?? DEFAULT_MAX_DATA_DEPTH;
    this.maxDataBytes = options.maxDataBytes ?? DEFAULT_MAX_DATA_BYTES;
  }

  /** Connects to Redis. Throws a TypeError, before connecting, for an out-of-range data limit. */
  static async connect(target: RedisTarget, options: EmitterOptions = {}): Promise<RedisEmitter> {
    limit("maxDataDepth", options.maxDataDepth ?? DEFAULT_MAX_DATA_DEPTH, MAX_DATA_DEPTH);
    limit("maxDataBytes", options.maxDataBytes ?? DEFAULT_MAX_DATA_BYTES, Number.MAX_SAFE_INTEGER);
    limit("idempotencyWindowMs", options.idempotencyWindowMs ?? DEFAULT_IDEMPOTENCY_WINDOW_MS, Number.MAX_SAFE_INTEGER);
    const keys = new RedisKeys(options.prefix ?? "hubcast");
    const onError = options.onError ?? ((err: Error) => console.error("hubcast emitter: redis error:", err.message));
    return new RedisEmitter(await connectRedis(target, onError), keys, options);
  }

  /**
   * Publishes a JSON value; resolves to its position when the channel keeps history. Rejects
   * with {@link InvalidDataError} for data past `maxDataDepth` or `maxDataBytes`.
   */
  async publish(
    channel: string,
    data: JsonValue,
    options: EmitterPublishOptions = {},
  ): Promise<StreamPosition | undefined> {
    // Checked before encoding: JSON.stringify itself overflows the stack on deep enough data.
    if (!jsonValueWithinDepth(data, this.maxDataDepth))
      throw new InvalidDataError(`data ${tooDeepProblem(this.maxDataDepth)}`);
    const encoded = encodeJsonData(data);
    this.checkSize(encoded);
    return publishThroughRedis(
      this.redis,
      this.keys,
      { channel, data: encoded },
      this.policyFor(channel),
      this.retry(options),
    );
  }

  /**
   * Publishes data already encoded as UTF-8 JSON text (one JSON value). Rejects with
   * {@link InvalidDataError} for bytes that are not UTF-8 JSON or are past `maxDataDepth` or
   * `maxDataBytes`: nodes would have to skip them when reading history.
   */
  async publishEncoded(
    channel: string,
    data: Uint8Array,
    options: EmitterPublishOptions = {},
  ): Promise<StreamPosition | undefined> {
    this.checkSize(data);
    const parsed = parseJsonData(data, this.maxDataDepth);
    if (!parsed.ok) throw new InvalidDataError(`data ${parsed.problem}`);
    return publishThroughRedis(this.redis, this.keys, { channel, data }, this.policyFor(channel), this.retry(options));
  }

  close(): Promise<void> {
    return this.redis.close();
  }

  private retry(options: EmitterPublishOptions): PublishRetryOptions {
    return { ...options, windowMs: this.options.idempotencyWindowMs ?? DEFAULT_IDEMPOTENCY_WINDOW_MS };
  }

  private checkSize(data: Uint8Array): void {
    if (data.length > this.maxDataBytes) {
      throw new InvalidDataError(
        `data is ${data.length} bytes of JSON text; the limit is ${this.maxDataBytes} (maxDataBytes)`,
      );
    }
  }

  private policyFor(channel: string): HistoryPolicy {
    const cut = channel.indexOf(":");
    if (cut < 0) return toPolicy(this.options.channel);
    const name = channel.slice(0, cut);
    const namespaces = this.options.namespaces ?? {};
    const namespace = Object.hasOwn(namespaces, name) ? namespaces[name] : undefined;
    if (namespace === undefined)
      throw new TypeError(`namespace "${channel.slice(0, cut)}" is not in the emitter's namespaces`);
    return toPolicy(namespace);
  }
}
