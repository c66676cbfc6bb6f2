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

/** Opens a command connection to `target`; rejects if the first connect fails. */
export async function connectRedis(target: RedisTarget, onError: (err: Error) => void): Promise<RedisConnection & { client: RedisClient | RedisClusterClient }> {
  if ("url" in target) {
    const client = createStandalone(target.url);
    client.on("error", onError);
    await client.connect();
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
  cluster.on("error", onError);
  await cluster.connect();
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
