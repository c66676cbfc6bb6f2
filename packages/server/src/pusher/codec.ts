/**
 * The Pusher protocol's encoding (JSON text frames of `{event, channel, data}`, with `data` a
 * JSON string), for fan-out and for the messages the protocol sends itself.
 *
 * A Pusher event is stored as a Hubcast publication whose data is an envelope
 * `{"event", "data", "socket_id"?, "user_id"?}`; native clients of a shared namespace see
 * that envelope. A native publication that is not an envelope reaches Pusher clients as event
 * {@link NATIVE_EVENT} with its data.
 */
import type { ClientInfo, Push, RawPublication } from "@hubcast/protocol";
import type { PushEncoder } from "../codec.js";
import { pusherCloseCode } from "./close-codes.js";
import { pusherName } from "./channels.js";

/** The event name a native publication (data that is not a Pusher envelope) has for Pusher clients. */
export const NATIVE_EVENT = "message";
/** The event that carries a `members` push (joins and leaves of a shared channel with `joinLeave`) to Pusher clients. */
export const MEMBERS_EVENT = "hubcast:members";

/** A Pusher event as a publication's data holds it. */
export interface Envelope {
  event: string;
  /** The data as the publisher gave it: a string (the Pusher HTTP API), or any JSON (client events, native clients). */
  data: unknown;
  /** The connection that must not receive it (the sender of a client event, an API call's `socket_id`). */
  socket_id?: string;
  /** The sender's user id, for client events on presence channels. */
  user_id?: string;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();
/** Each publication's envelope, parsed once for the fan-out's exclusion and its encoding. */
const envelopes = new WeakMap<RawPublication, Envelope>();

/** The envelope of a publication: its own, or a native publication's data under {@link NATIVE_EVENT}. Never throws. */
export function envelopeOf(pub: RawPublication): Envelope {
  let envelope = envelopes.get(pub);
  if (envelope !== undefined) return envelope;
  const text = decoder.decode(pub.data);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = text; // stored by someone who bypassed the node's checks: relay the text
  }
  envelope = isEnvelope(value) ? value : { event: NATIVE_EVENT, data: value };
  envelopes.set(pub, envelope);
  return envelope;
}

function isEnvelope(value: unknown): value is Envelope {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.event === "string" &&
    "data" in v &&
    (v.socket_id === undefined || typeof v.socket_id === "string") &&
    (v.user_id === undefined || typeof v.user_id === "string")
  );
}

/** Data as Pusher sends it: strings as they are, anything else as JSON text. */
export const dataString = (data: unknown): string => (typeof data === "string" ? data : JSON.stringify(data));

/** One Pusher message as bytes; `data` is sent as a JSON string, as Pusher sends it. */
export function pusherMessage(event: string, data: unknown, channel?: string, userId?: string): Uint8Array {
  const message: Record<string, string> = { event };
  if (channel !== undefined) message.channel = channel;
  message.data = dataString(data);
  if (userId !== undefined) message.user_id = userId;
  return encoder.encode(JSON.stringify(message));
}

/** A member as `pusher_internal:member_added` and the presence hash give it. */
export const memberOf = (info: ClientInfo): { user_id: string; user_info?: unknown } =>
  info.info === undefined ? { user_id: info.user } : { user_id: info.user, user_info: info.info };

/** The encoding of every Pusher connection (one instance, so fan-out encodes once for all of them). */
export const PUSHER_CODEC: PushEncoder = {
  binary: false,
  encodePublication(pub: RawPublication): Uint8Array {
    const { event, data, user_id } = envelopeOf(pub);
    return pusherMessage(event, data, pusherName(pub.channel), user_id);
  },
  encodePush(push: Push): Uint8Array {
    switch (push.type) {
      case "publication":
        return this.encodePublication({ ...push.body, data: encoder.encode(JSON.stringify(push.body.data)) });
      case "join":
        return pusherMessage("pusher_internal:member_added", memberOf(push.body.info), pusherName(push.body.channel));
      case "leave":
        return pusherMessage(
          "pusher_internal:member_removed",
          { user_id: push.body.info.user },
          pusherName(push.body.channel),
        );
      case "members": {
        // Only on a shared namespace's channel with `joinLeave` on (Pusher's presence channels
        // keep it off and get member_added one by one): an ordinary event a client may bind.
        const { channel, leaves, joins, summary } = push.body;
        const data = { leaves: leaves.map((info) => ({ user_id: info.user })), joins: joins.map(memberOf), summary };
        return pusherMessage(MEMBERS_EVENT, data, pusherName(channel));
      }
      case "ping":
        return pusherMessage("pusher:ping", {});
      case "disconnect":
        return pusherMessage("pusher:error", { code: pusherCloseCode(push.body.code), message: push.body.reason });
      case "unsubscribe":
        return pusherMessage("pusher:error", { code: null, message: push.body.reason }, pusherName(push.body.channel));
    }
  },
};
