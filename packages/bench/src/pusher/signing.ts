/**
 * Pusher HTTP API request signing (`auth_version=1.0`), as Pusher's server SDKs sign: the query
 * carries `auth_key`, `auth_timestamp`, `auth_version`, `body_md5` and `auth_signature`, the
 * hex HMAC-SHA256 under the app's secret of `METHOD\n/path\nparams` with the parameters sorted
 * by name and joined `k=v&…`, unescaped.
 */
import { createHash, createHmac } from "node:crypto";
import type { PusherApp } from "./app.js";

/** A request to sign. */
export interface SignedRequest {
  method: string;
  /** Path without query, e.g. `/apps/1/events`. */
  path: string;
  /** The JSON body, as sent. */
  body: string;
  /** Seconds since the Unix epoch (the server allows some clock difference). */
  nowS: number;
}

/** `path?query` with every auth parameter, signed for `app`. Parameter values need no escaping (digits, hex, key characters). */
export function signedPath(app: PusherApp, request: SignedRequest): string {
  const params: [string, string][] = [
    ["auth_key", app.key],
    ["auth_timestamp", String(Math.floor(request.nowS))],
    ["auth_version", "1.0"],
    ["body_md5", createHash("md5").update(request.body, "utf8").digest("hex")],
  ];
  // Already in name order; sorted anyway so that adding a parameter cannot break the signature.
  params.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const query = params.map(([k, v]) => `${k}=${v}`).join("&");
  const signature = createHmac("sha256", app.secret)
    .update(`${request.method.toUpperCase()}\n${request.path}\n${query}`, "utf8")
    .digest("hex");
  return `${request.path}?${query}&auth_signature=${signature}`;
}
