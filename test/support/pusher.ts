/**
 * The real Pusher libraries against Hubcast: pusher-js clients (Node build) whose channel
 * authorization and user authentication are signed by the real `pusher` server SDK, as an
 * app's backend would sign them.
 */
import PusherServer from "pusher";
import PusherJsModule from "pusher-js";
import type { Channel, Options } from "pusher-js";
import type { PusherAppOptions } from "../../packages/server/src/pusher/apps.js";

/**
 * pusher-js's constructor. Its types describe an ES module's default export while the package
 * is CommonJS, so under NodeNext the default import is typed as the module; at run time it is the class.
 */
export const PusherJs = PusherJsModule as unknown as typeof PusherJsModule.default;
export type PusherJs = InstanceType<typeof PusherJsModule.default>;

/** An app most Pusher tests use. */
export const TEST_APP = {
  id: "1001",
  key: "test-key",
  secret: "test-secret-0123456789",
  clientEvents: true,
} satisfies PusherAppOptions;

/** The `pusher` server SDK pointed at a node (`host:port`), for an app. */
export function serverSdk(
  port: number,
  app: Pick<PusherAppOptions, "id" | "key" | "secret"> = TEST_APP,
  extra: Partial<ConstructorParameters<typeof PusherServer>[0]> = {},
): PusherServer {
  return new PusherServer({
    appId: app.id,
    key: app.key,
    secret: app.secret,
    host: "127.0.0.1",
    port: String(port),
    useTLS: false,
    ...extra,
  });
}

/** Who a test client is in presence channels and sign-in. */
export interface TestUser {
  id: string;
  info?: Record<string, unknown>;
}

/**
 * A pusher-js client of `app` on the node at `port`, WebSocket only, authorized by `signer`
 * (the backend's SDK). `user` is its presence member and sign-in identity.
 */
export function pusherClient(
  port: number,
  signer: PusherServer,
  user: TestUser = { id: "user-1" },
  options: Partial<Options> = {},
  key = TEST_APP.key,
): PusherJs {
  return new PusherJs(key, {
    wsHost: "127.0.0.1",
    wsPort: port,
    forceTLS: false,
    enabledTransports: ["ws"],
    cluster: "test",
    disableStats: true,
    channelAuthorization: {
      endpoint: "/unused",
      transport: "ajax",
      customHandler: ({ socketId, channelName }, callback) => {
        const member = channelName.startsWith("presence-") ? { user_id: user.id, user_info: user.info } : undefined;
        callback(null, signer.authorizeChannel(socketId, channelName, member));
      },
    },
    userAuthentication: {
      endpoint: "/unused",
      transport: "ajax",
      customHandler: ({ socketId }, callback) => {
        callback(null, signer.authenticateUser(socketId, { id: user.id, ...user.info }));
      },
    },
    ...options,
  });
}

/** Resolves when the client is connected; rejects on failure or after `timeoutMs`. */
export function connected(client: PusherJs, timeoutMs = 5_000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (client.connection.state === "connected") return resolve();
    const timer = setTimeout(
      () => reject(new Error(`pusher-js not connected after ${timeoutMs} ms (${client.connection.state})`)),
      timeoutMs,
    );
    client.connection.bind("connected", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Resolves with the first `event` on `channel` (its data), or rejects after `timeoutMs`. */
export function next<T = unknown>(channel: Channel, event: string, timeoutMs = 5_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ${event} on ${channel.name} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const handler = (data: T): void => {
      clearTimeout(timer);
      channel.unbind(event, handler);
      resolve(data);
    };
    channel.bind(event, handler);
  });
}

/** Subscribes and resolves once `pusher:subscription_succeeded` arrives (with its data); rejects on a subscription error. */
export async function subscribed<T = unknown>(
  client: PusherJs,
  name: string,
  timeoutMs = 5_000,
): Promise<{ channel: Channel; data: T }> {
  const channel = client.subscribe(name);
  const error = next<{ status?: number; error?: string }>(channel, "pusher:subscription_error", timeoutMs).then(
    (e) => Promise.reject(new Error(`subscription to ${name} failed: ${JSON.stringify(e)}`)),
    () => new Promise<never>(() => undefined),
  );
  const data = await Promise.race([next<T>(channel, "pusher:subscription_succeeded", timeoutMs), error]);
  return { channel, data };
}

/** The native server API key of nodes whose tests publish server events with {@link triggerEvent}. */
export const NATIVE_API_KEY = "pusher-tests-native-api-key";

/**
 * Sends server event `event` with `data` on Pusher channel `channel` of `app` on the node at
 * `port`, and resolves once the node accepted it. Until the Pusher HTTP API is in the tree it
 * goes through the native server API (the node needs `apiKey: NATIVE_API_KEY`): a publication of
 * the Pusher envelope `{event, data}` on the app namespace's Hubcast channel, which Pusher
 * clients receive as `event` with `data`. It becomes `serverSdk(port, app).trigger(channel, event, data)`.
 */
export async function triggerEvent(
  port: number,
  event: { channel: string; event: string; data: unknown },
  app: Pick<PusherAppOptions, "id" | "namespace"> = TEST_APP,
): Promise<void> {
  const namespace = app.namespace === undefined || app.namespace === "" ? `pusher.${app.id}` : app.namespace;
  const res = await fetch(`http://127.0.0.1:${port}/api/publish`, {
    method: "POST",
    headers: { Authorization: `Bearer ${NATIVE_API_KEY}`, "Content-Type": "application/json" },
    body: JSON.stringify({ channel: `${namespace}:${event.channel}`, data: { event: event.event, data: event.data } }),
  });
  if (res.status !== 200)
    throw new Error(`publish of ${event.event} on ${event.channel}: ${res.status} ${await res.text()}`);
}
