import { RESP_TYPES, createClient, createCluster } from "@redis/client";
import type { RedisCommander } from "./scripts.js";

/** Where Redis is: one server (or a replica set's primary) by URL, or a cluster by seed URLs. */
export type RedisTarget = { url: string } | { clusterUrls: readonly string[] };

export type RedisClient = ReturnType<typeof createStandalone>;
export type RedisClusterClient = ReturnType<typeof createClusterClient>;

const BUFFERS = { [RESP_TYPES.BLOB_STRING]: Buffer } as const;

/** Full-jitter backoff between reconnect attempts, 50 ms up to 2 s. */
export const reconnectDelayMs = (retries: number): number => Math.round(Math.random() * Math.min(2_000, 50 * 2 ** retries));

function createStandalone(url: string) {
  return createClient({
    url,
    RESP: 2,
    // A command sent while Redis is away fails at once instead of waiting in a queue without bound.
    disableOfflineQueue: true,
    socket: { reconnectStrategy: reconnectDelayMs, connectTimeout: 5_000 },
  });
}

function createClusterClient(urls: readonly string[]) {
  return createCluster({
    rootNodes: urls.map((url) => ({ url })),
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
export async function firstConnect(what: string, connect: () => Promise<unknown>, destroy: () => void, lastError: () => Error | undefined): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      destroy();
      const cause = lastError()?.message ?? "no answer";
      reject(new RedisUnavailableError(`cannot reach Redis at ${what} within ${FIRST_CONNECT_TIMEOUT_MS / 1000} s (${cause})`));
    }, FIRST_CONNECT_TIMEOUT_MS);
  });
  try {
    await Promise.race([connect(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Opens a command connection to `target`; rejects with {@link RedisUnavailableError} if it cannot. */
export async function connectRedis(target: RedisTarget, onError: (err: Error) => void): Promise<RedisConnection & { client: RedisClient | RedisClusterClient }> {
  let lastError: Error | undefined;
  const report = (err: Error): void => {
    lastError = err;
    onError(err);
  };
  if ("url" in target) {
    const client = createStandalone(target.url);
    client.on("error", report);
    await firstConnect(target.url, () => client.connect(), () => client.destroy(), () => lastError);
    return {
      client,
      cluster: false,
      isReady: () => client.isReady,
      send: (_key, args) => client.sendCommand(args as (string | Buffer)[], { typeMapping: BUFFERS }),
      close: async () => {
        await client.close();
      },
    };
  }
  const cluster = createClusterClient(target.clusterUrls);
  cluster.on("error", report);
  await firstConnect(target.clusterUrls.join(","), () => cluster.connect(), () => cluster.destroy(), () => lastError);
  return {
    client: cluster,
    cluster: true,
    isReady: () => cluster.isReady,
    send: (key, args) => cluster.sendCommand(key, false, args as (string | Buffer)[], { typeMapping: BUFFERS }),
    close: async () => {
      await cluster.close();
    },
  };
}
