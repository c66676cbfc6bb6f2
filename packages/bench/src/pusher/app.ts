/**
 * The Pusher app `hubcast bench --protocol pusher` connects to and publishes for: its
 * credentials (`--pusher-app id:key:secret`, as `hubcast start --pusher-app` takes them), and
 * the WebSocket URL pusher-js would open for it (`/app/{key}?protocol=7&client=js&version=8.4.0`).
 */

/** One Pusher app: `id` names it in HTTP API paths, `key` in WebSocket URLs, `secret` signs API requests. */
export interface PusherApp {
  readonly id: string;
  readonly key: string;
  /** Never shown: left out of results and messages. */
  readonly secret: string;
}

/**
 * The app `--protocol pusher` uses without `--pusher-app`: the one the bench's own nodes are
 * started with (`hubcast start --pusher-app bench:bench-key:hubcast-bench-secret`), so a
 * local run needs no credentials. Only for bench nodes: its secret is public.
 */
export const DEFAULT_PUSHER_APP: PusherApp = Object.freeze({
  id: "bench",
  key: "bench-key",
  secret: "hubcast-bench-secret",
});

/** The query pusher-js 8 sends when it connects: protocol 7. */
export const PUSHER_QUERY = "protocol=7&client=js&version=8.4.0";

/** Where Pusher clients connect, followed by the app key. */
const APP_PATH = "/app/";

// As the server checks them (packages/server/src/pusher/apps.ts), so a typo fails here and not at the first connection.
const APP_ID = /^[A-Za-z0-9_.-]{1,56}$/;
const APP_KEY = /^[A-Za-z0-9_.-]{1,128}$/;
const APP_SECRET = /^[\x21-\x7e]{8,256}$/;

const FLAG_FORM = "id:key:secret, as the server was started with (hubcast start --pusher-app 1:app-key:app-secret)";

/**
 * Parses `--pusher-app id:key:secret` (the secret may hold `:`). Throws a TypeError that names
 * the part that is wrong and the form; the secret is never repeated in it.
 */
export function parsePusherApp(value: string): PusherApp {
  const [id = "", key = "", ...rest] = value.split(":");
  const secret = rest.join(":");
  if (rest.length === 0 || id === "" || key === "" || secret === "")
    throw new TypeError(`--pusher-app must be ${FLAG_FORM}`);
  if (!APP_ID.test(id))
    throw new TypeError(`--pusher-app: the app id must be 1-56 of A-Z a-z 0-9 _ . -; give ${FLAG_FORM}`);
  if (!APP_KEY.test(key))
    throw new TypeError(`--pusher-app: the app key must be 1-128 of A-Z a-z 0-9 _ . -; give ${FLAG_FORM}`);
  if (!APP_SECRET.test(secret))
    throw new TypeError(`--pusher-app: the secret must be 8-256 printable ASCII characters; give ${FLAG_FORM}`);
  return Object.freeze({ id, key, secret });
}

/**
 * The Pusher WebSocket URL for `url` and app `key`. A URL without a path
 * (`ws://host:8080`) gets `/app/{key}?protocol=7&client=js&version=8.4.0`; a URL already on
 * `/app/{key}` keeps its query (gaining `protocol=7` when it has none) and must name the same
 * key. Any other path throws a TypeError that says what to give instead.
 */
export function pusherUrl(url: string, key: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TypeError(`"${url}" is not a URL; give one like ws://127.0.0.1:8080`);
  }
  if (u.pathname === "/" || u.pathname === "") {
    u.pathname = `${APP_PATH}${key}`;
    u.search = PUSHER_QUERY;
    return u.toString();
  }
  if (!u.pathname.startsWith(APP_PATH))
    throw new TypeError(
      `${url}: --protocol pusher connects to /app/{key}; give --url ws://host:port (the bench adds /app/${key}?${PUSHER_QUERY}) or the full ws://host:port/app/${key}?protocol=7`,
    );
  const inPath = decodeURIComponent(u.pathname.slice(APP_PATH.length));
  if (inPath !== key)
    throw new TypeError(
      `${url} is app key "${inPath}" but --pusher-app has key "${key}"; give the same app in both (or --url ws://host:port and let the bench add the path)`,
    );
  if (!u.searchParams.has("protocol")) u.search = u.search === "" ? PUSHER_QUERY : `${u.search}&protocol=7`;
  return u.toString();
}

/** The HTTP base (`http(s)://host:port`) of a `ws(s)://` URL: where the node's HTTP APIs answer. */
export function httpBase(url: string): string {
  const u = new URL(url);
  const scheme = u.protocol === "wss:" || u.protocol === "https:" ? "https:" : "http:";
  return `${scheme}//${u.host}`;
}
