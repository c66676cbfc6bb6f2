/**
 * Pusher's client-side signatures, checked by the node: channel authorization
 * (`key:HMAC-SHA256(secret, "socket_id:channel[:channel_data]")`) and user sign-in
 * (`key:HMAC-SHA256(secret, "socket_id::user::user_data")`), as the app's backend makes them
 * with a Pusher server SDK.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { ResolvedPusherApp } from "./apps.js";

/** Hex HMAC-SHA256 of `text` with the app's secret. */
export const sign = (secret: string, text: string): string => createHmac("sha256", secret).update(text).digest("hex");

/** Whether `given` is `key:signature` for `text`, compared in constant time. */
function matches(app: ResolvedPusherApp, given: unknown, text: string): boolean {
  if (typeof given !== "string") return false;
  const expected = Buffer.from(`${app.key}:${sign(app.secret, text)}`);
  const actual = Buffer.from(given);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** Checks a `pusher:subscribe` `auth` for a private, encrypted or presence channel. */
export function validChannelAuth(
  app: ResolvedPusherApp,
  request: { socketId: string; channel: string; auth: unknown; channelData: string | undefined },
): boolean {
  const { socketId, channel, auth, channelData } = request;
  return matches(
    app,
    auth,
    channelData === undefined ? `${socketId}:${channel}` : `${socketId}:${channel}:${channelData}`,
  );
}

/** Checks a `pusher:signin` `auth` for its `user_data`. */
export function validSigninAuth(app: ResolvedPusherApp, socketId: string, auth: unknown, userData: string): boolean {
  return matches(app, auth, `${socketId}::user::${userData}`);
}
