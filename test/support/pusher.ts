/**
 * The real Pusher libraries against Hubcast: pusher-js clients (Node build) whose channel
 * authorization and user authentication are signed by the real `pusher` server SDK, as an
 * app's backend would sign them.
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { IncomingMessage, Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
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

/** A native server API key for tests that also read the node through /api/. */
export const NATIVE_API_KEY = "pusher-tests-native-api-key";

/**
 * Sends server event `event` with `data` on Pusher channel `channel` of `app` on the node at
 * `port` through the Pusher HTTP API (the real `pusher` SDK), and resolves once the node accepted it.
 */
export async function triggerEvent(
  port: number,
  event: { channel: string; event: string; data: unknown },
  app: Pick<PusherAppOptions, "id" | "key" | "secret"> = TEST_APP,
): Promise<void> {
  await serverSdk(port, app).trigger(event.channel, event.event, event.data);
}

/** Where a page loads pusher-js's web build from a {@link PusherBackendSite}. */
export const PUSHER_JS_PATH = "/pusher.min.js";
/** Where a page's pusher-js asks a {@link PusherBackendSite} for channel authorizations (its `channelAuthorization.endpoint`). */
export const PUSHER_AUTH_PATH = "/broadcasting/auth";

const readBody = async (req: IncomingMessage): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
};

/**
 * An app's web backend for browser tests, on its own loopback origin: the HTML of {@link pages}
 * by path, pusher-js's web build at {@link PUSHER_JS_PATH}, and channel authorization at
 * {@link PUSHER_AUTH_PATH} signed by `signer`. The authorization's presence member is the
 * `user_id` (and `user_name`) the page sends as `channelAuthorization.params`, standing in for
 * a session. Anything else is a 404.
 */
export class PusherBackendSite {
  /** Path (`/page-1.html`) → HTML. */
  readonly pages = new Map<string, string>();
  private server: Server | undefined;
  private origin = "";
  private readonly script = readFileSync(createRequire(import.meta.url).resolve("pusher-js/dist/web/pusher.min.js"));

  constructor(private readonly signer: PusherServer) {}

  /** The site's origin, `http://127.0.0.1:<port>`, once started. */
  get url(): string {
    return this.origin;
  }

  async start(): Promise<string> {
    const server = createServer((req, res) => {
      this.answer(req).then(
        ({ status, type, body }) => {
          res.writeHead(status, { "Content-Type": type });
          res.end(body);
        },
        (err: unknown) => {
          res.writeHead(500, { "Content-Type": "text/plain" });
          res.end(String(err));
        },
      );
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this.origin;
  }

  private async answer(req: IncomingMessage): Promise<{ status: number; type: string; body: string | Buffer }> {
    if (req.method === "POST" && req.url === PUSHER_AUTH_PATH) {
      const form = new URLSearchParams(await readBody(req));
      const socketId = form.get("socket_id") ?? "";
      const channel = form.get("channel_name") ?? "";
      const userId = form.get("user_id") ?? "anonymous";
      const member = channel.startsWith("presence-")
        ? { user_id: userId, user_info: { name: form.get("user_name") ?? userId } }
        : undefined;
      const auth = this.signer.authorizeChannel(socketId, channel, member);
      return { status: 200, type: "application/json", body: JSON.stringify(auth) };
    }
    if (req.url === PUSHER_JS_PATH) return { status: 200, type: "text/javascript", body: this.script };
    const html = this.pages.get(req.url ?? "/");
    if (html === undefined) return { status: 404, type: "text/plain", body: "not found" };
    return { status: 200, type: "text/html; charset=utf-8", body: html };
  }

  close(): Promise<void> {
    const server = this.server;
    server?.closeAllConnections();
    return new Promise((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
  }
}

/** A webhook event as the `pusher` SDK reads it. */
export interface ReceivedWebhook {
  name: string;
  channel: string;
  user_id?: string;
  event?: string;
  data?: string;
  socket_id?: string;
}

/** A backend's webhook endpoint on loopback: keeps the events of every request whose signature the real `pusher` SDK accepts (for {@link TEST_APP}). */
export class WebhookReceiver {
  readonly events: ReceivedWebhook[] = [];
  invalid = 0;
  private readonly server: Server;

  constructor() {
    const verifier = serverSdk(1);
    this.server = createServer((req, res) => {
      readBody(req).then(
        (rawBody) => {
          const hook = verifier.webhook({ headers: req.headers as Record<string, string>, rawBody });
          if (hook.isValid()) this.events.push(...(hook.getEvents() as ReceivedWebhook[]));
          else this.invalid += 1;
          res.writeHead(200).end();
        },
        () => res.destroy(),
      );
    });
  }

  /** Starts listening; resolves with the URL to put in the app's `webhooks`. */
  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
  }

  /** The occupancy and membership events of `channel`, as `name` or `name:user`, in arrival order. */
  of(channel: string): string[] {
    return this.events
      .filter((e) => e.channel === channel && e.name !== "client_event")
      .map((e) => (e.user_id === undefined ? e.name : `${e.name}:${e.user_id}`));
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
