import { RESP_TYPES, createClient, createCluster } from "@redis/client";
import type { RedisCommander } from "./scripts.js";

/** A Redis node's address as a client should dial it. */
export interface RedisNodeAddress {
  host: string;
  port: number;
}

/**
 * Where Redis is: one server (or a replica set's primary) by URL, or a cluster by seed URLs.
 * A cluster's `nodeAddressMap` maps the `host:port` each node announces to the address to dial
 * instead (the cluster runs behind NAT, a proxy, or another network); nodes not in it are dialed
 * as announced. `undefined`: every node is dialed as announced.
 */
export type RedisTarget =
  | { url: string }
  | { clusterUrls: readonly string[]; nodeAddressMap?: Readonly<Record<string, RedisNodeAddress>> };

export type RedisClient = ReturnType<typeof createStandalone>;
export type RedisClusterClient = ReturnType<typeof createClusterClient>;

const BUFFERS = { [RESP_TYPES.BLOB_STRING]: Buffer } as const;

/**
 * How long one command may wait for its reply, in ms. A link that drops packets without a
 * reset looks connected to the client: without this, publishes would hang instead of failing.
 */
export const COMMAND_TIMEOUT_MS = 5_000;
const COMMAND_OPTIONS = { typeMapping: BUFFERS } as const;

/** Redis did not answer a command within {@link COMMAND_TIMEOUT_MS}. */
export class RedisCommandTimeoutError extends Error {
  override readonly name = "RedisCommandTimeoutError";
  readonly code = "REDIS_COMMAND_TIMEOUT";
}

/**
 * Whether Redis has been answering: false after a command timed out, true again after the
 * next reply. Readiness follows it, so a node on a silent link reports not ready.
 */
class CommandHealth {
  answering = true;

  /** The reply, or a {@link RedisCommandTimeoutError} after the timeout (the command itself may still complete). */
  async watch<T>(reply: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new RedisCommandTimeoutError(`redis did not answer within ${COMMAND_TIMEOUT_MS} ms`)),
        COMMAND_TIMEOUT_MS,
      );
    });
    reply.catch(() => undefined); // a late failure after the timeout has already been reported
    try {
      const value = await Promise.race([reply, timeout]);
      this.answering = true;
      return value;
    } catch (err) {
      // An error reply is still an answer; only silence marks Redis as not answering.
      this.answering = !(err instanceof RedisCommandTimeoutError);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Full-jitter backoff between reconnect attempts, 50 ms up to 2 s. */
export const reconnectDelayMs = (retries: number): number =>
  Math.round(Math.random() * Math.min(2_000, 50 * 2 ** retries));

function createStandalone(url: string) {
  return createClient({
    url,
    RESP: 2,
    // A command sent while Redis is away fails at once instead of waiting in a queue without bound.
    disableOfflineQueue: true,
    socket: { reconnectStrategy: reconnectDelayMs, connectTimeout: 5_000 },
  });
}

function createClusterClient(urls: readonly string[], nodeAddressMap?: Readonly<Record<string, RedisNodeAddress>>) {
  return createCluster({
    rootNodes: urls.map((url) => ({ url })),
    ...(nodeAddressMap === undefined ? {} : { nodeAddressMap: { ...nodeAddressMap } }),
    RESP: 2,
    defaults: { disableOfflineQueue: true, socket: { reconnectStrategy: reconnectDelayMs, connectTimeout: 5_000 } },
  });
}

/** A connected command connection with the small surface Hubcast uses. */
export interface RedisConnection extends RedisCommander {
  readonly cluster: boolean;
  /** True while commands can be sent. */
  isReady(): boolean;
  close(): Promise<void>;
}

/** Redis could not be reached when connecting for the first time. */
export class RedisUnavailableError extends Error {
  override readonly name = "RedisUnavailableError";
  readonly code = "REDIS_UNAVAILABLE";
}

/** How long the first connect may take before it fails, in ms. */
export const FIRST_CONNECT_TIMEOUT_MS = 10_000;

/** Waits for a client's first connect; later disconnects are retried by the client itself. */
export async function firstConnect(
  what: string,
  connect: () => Promise<unknown>,
  destroy: () => void,
  lastError: () => Error | undefined,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      destroy();
      const cause = lastError()?.message ?? "no answer";
      reject(
        new RedisUnavailableError(
          `cannot reach Redis at ${what} within ${FIRST_CONNECT_TIMEOUT_MS / 1000} s (${cause})`,
        ),
      );
    }, FIRST_CONNECT_TIMEOUT_MS);
  });
  try {
    await Promise.race([connect(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** How long a graceful close may wait for replies still owed before the connection is dropped, in ms. */
export const CLOSE_TIMEOUT_MS = 2_000;

/**
 * Closes gracefully (replies still owed are awaited), or drops the connection after
 * {@link CLOSE_TIMEOUT_MS}: a graceful close on a silent link would wait for ever.
 */
export async function closeWithin(client: { close(): Promise<unknown>; destroy(): unknown }): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<true>((resolve) => {
    timer = setTimeout(() => resolve(true), CLOSE_TIMEOUT_MS);
  });
  const closing = client.close().then(() => false);
  closing.catch(() => undefined); // once dropped, how the close would have ended is moot
  try {
    if (await Promise.race([closing, late])) client.destroy();
  } finally {
    clearTimeout(timer);
  }
}

/** Opens a command connection to `target`; rejects with {@link RedisUnavailableError} if it cannot. */
export async function connectRedis(
  target: RedisTarget,
  onError: (err: Error) => void,
): Promise<RedisConnection & { client: RedisClient | RedisClusterClient }> {
  let lastError: Error | undefined;
  const report = (err: Error): void => {
    lastError = err;
    onError(err);
  };
  if ("url" in target) {
    const client = createStandalone(target.url);
    client.on("error", report);
    await firstConnect(
      target.url,
      () => client.connect(),
      () => client.destroy(),
      () => lastError,
    );
    const health = new CommandHealth();
    return {
      client,
      cluster: false,
      isReady: () => client.isReady && health.answering,
      send: (_key, args) => health.watch(client.sendCommand(args as (string | Buffer)[], COMMAND_OPTIONS)),
      close: () => closeWithin(client),
    };
  }
  const cluster = createClusterClient(target.clusterUrls, target.nodeAddressMap);
  cluster.on("error", report);
  await firstConnect(
    target.clusterUrls.join(","),
    () => cluster.connect(),
    () => cluster.destroy(),
    () => lastError,
  );
  const health = new CommandHealth();
  return {
    client: cluster,
    cluster: true,
    // Every master's command connection: a publish to a shard whose connection is down would fail.
    isReady: () =>
      cluster.isReady && health.answering && cluster.masters.every((master) => master.client?.isReady ?? true),
    send: (key, args) => health.watch(cluster.sendCommand(key, false, args as (string | Buffer)[], COMMAND_OPTIONS)),
    close: () => closeWithin(cluster),
  };
}
