/**
 * What the Pusher HTTP API accepts, checked as Pusher documents it: channel names, socket
 * ids, user ids, event bodies (`/events`, each `/batch_events` entry) and `info` lists. Each
 * failure throws a {@link PusherApiError} (400, or 413 for event data over the app's limit)
 * whose message is the plain-text answer.
 */
import type { ChannelAttribute, PusherEventInput } from "./api-backend.js";
import { PusherApiError } from "./api-backend.js";
import { CHANNEL_NAME_CHARACTERS, MAX_PUSHER_CHANNEL_LENGTH, USER_CHANNEL_PREFIX, channelKind } from "./channels.js";

/** Most channels one event may go to. */
export const MAX_EVENT_CHANNELS = 100;
/** Longest event name, in characters. */
export const MAX_EVENT_NAME_LENGTH = 200;
/** Most events one `/batch_events` may carry. */
export const MAX_BATCH_EVENTS = 10;

const SOCKET_ID = /^\d+\.\d+$/;

const invalid = (message: string): PusherApiError => new PusherApiError(400, message);

/** Presence channels: members, `user_count`, `/users`. */
export const isPresenceChannel = (channel: string): boolean => channelKind(channel).presence;

/** Cache channels (every variant): `info=cache`. */
export const isCacheChannel = (channel: string): boolean => channelKind(channel).cache;

const isEncryptedChannel = (channel: string): boolean => channelKind(channel).encrypted;

/** A user id as Pusher allows it: the channel-name characters. */
export function checkUserId(userId: string): string {
  if (!CHANNEL_NAME_CHARACTERS.test(userId))
    throw invalid(`Invalid user id: '${userId}'; use only A-Z a-z 0-9 and _ - = @ , . ;`);
  return userId;
}

/** A channel name a client could subscribe to: 1-164 of A-Z a-z 0-9 _ - = @ , . ; */
export function checkChannelName(channel: unknown): string {
  if (typeof channel !== "string" || !CHANNEL_NAME_CHARACTERS.test(channel))
    throw invalid(`Invalid channel name: '${String(channel)}'; use only A-Z a-z 0-9 and _ - = @ , . ;`);
  if (channel.length > MAX_PUSHER_CHANNEL_LENGTH)
    throw invalid(`Channel name too long: '${channel}' (at most ${MAX_PUSHER_CHANNEL_LENGTH} characters)`);
  return channel;
}

/** A channel an event may go to: a client channel, or `#server-to-user-<user id>`. */
function checkTargetChannel(channel: unknown): string {
  if (typeof channel === "string" && channel.startsWith(USER_CHANNEL_PREFIX)) {
    checkUserId(channel.slice(USER_CHANNEL_PREFIX.length));
    if (channel.length > MAX_PUSHER_CHANNEL_LENGTH)
      throw invalid(`Channel name too long: '${channel}' (at most ${MAX_PUSHER_CHANNEL_LENGTH} characters)`);
    return channel;
  }
  return checkChannelName(channel);
}

/** A comma-separated `info` list; each attribute must be one of `allowed`. Duplicates are dropped. */
export function parseInfo(value: unknown, allowed: readonly ChannelAttribute[]): ChannelAttribute[] {
  if (value === undefined || value === null) return [];
  if (typeof value !== "string") throw invalid("Expected info parameter to be a comma-separated string");
  const attributes = new Set<ChannelAttribute>();
  for (const part of value.split(",")) {
    const name = part.trim();
    if (name === "") continue;
    const known = allowed.find((attribute) => attribute === name);
    if (known === undefined)
      throw invalid(`Unknown info attribute '${name}'; this request takes ${allowed.join(", ")}`);
    attributes.add(known);
  }
  return [...attributes];
}

/** A JSON object's fields; anything else is refused with `what` named. */
export function objectFields(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw invalid(`Expected ${what} to be a JSON object`);
  return value as Record<string, unknown>;
}

/** The attributes `/events` and `/batch_events` may ask for, per channel published to. */
const EVENT_ATTRIBUTES: readonly ChannelAttribute[] = ["user_count", "subscription_count"];

/** The channels of `/events`: `channels` (1-100, duplicates dropped) or `channel`, not both. */
function eventChannels(fields: Record<string, unknown>): string[] {
  const { channel, channels } = fields;
  if (channels !== undefined && channel !== undefined)
    throw invalid("Give either the channel parameter or the channels parameter, not both");
  if (channels === undefined) {
    if (channel === undefined) throw invalid("Missing parameter: channels (or channel)");
    return [checkTargetChannel(channel)];
  }
  if (!Array.isArray(channels) || channels.length === 0)
    throw invalid("Expected channels parameter to be an array of channel names");
  if (channels.length > MAX_EVENT_CHANNELS)
    throw invalid(`Too many channels: ${channels.length}; an event may go to at most ${MAX_EVENT_CHANNELS}`);
  const unique = [...new Set(channels.map(checkTargetChannel))];
  if (unique.length > 1 && unique.some(isEncryptedChannel))
    throw invalid("An event to an encrypted channel must go to that channel alone");
  return unique;
}

/** One event of `/events` (`channels` or `channel`) or of `/batch_events` (`channel` only). */
export function parseEvent(
  body: unknown,
  options: { maxEventBytes: number; batch: boolean; where?: string },
): PusherEventInput {
  const fields = objectFields(body, options.where ?? "the body");
  const { name, data, socket_id: socketId } = fields;
  if (typeof name !== "string") throw invalid("Expected name parameter to be a string");
  if (name === "") throw invalid("Event name must not be empty");
  if (name.length > MAX_EVENT_NAME_LENGTH)
    throw invalid(`Event name too long: ${name.length} characters (at most ${MAX_EVENT_NAME_LENGTH})`);
  if (typeof data !== "string") throw invalid("Expected data parameter to be a string");
  const bytes = Buffer.byteLength(data, "utf8");
  if (bytes > options.maxEventBytes) {
    throw new PusherApiError(
      413,
      `Payload too large: the event data is ${bytes} bytes; this app allows at most ${options.maxEventBytes}`,
    );
  }
  if (options.batch && fields["channels"] !== undefined)
    throw invalid("A batch event takes one channel parameter, not channels");
  const channels = options.batch ? [checkTargetChannel(fields["channel"])] : eventChannels(fields);
  const event: PusherEventInput = { channels, name, data };
  if (socketId !== undefined && socketId !== null) {
    if (typeof socketId !== "string" || !SOCKET_ID.test(socketId))
      throw invalid(`Invalid socket id: '${String(socketId)}'; expected digits.digits, as 1234.5678`);
    event.socketId = socketId;
  }
  const info = parseInfo(fields["info"], EVENT_ATTRIBUTES);
  if (info.length > 0) event.info = info;
  return event;
}

/** The events of a `/batch_events` body: `{"batch": [...]}`, at most {@link MAX_BATCH_EVENTS}. */
export function parseBatch(body: unknown, maxEventBytes: number): PusherEventInput[] {
  const { batch } = objectFields(body, "the body");
  if (!Array.isArray(batch)) throw invalid("Expected batch parameter to be an array of events");
  if (batch.length > MAX_BATCH_EVENTS)
    throw invalid(`Too many events in a batch: ${batch.length}; a batch may carry at most ${MAX_BATCH_EVENTS}`);
  return batch.map((entry: unknown, i) => {
    try {
      return parseEvent(entry, { maxEventBytes, batch: true, where: "a batch event" });
    } catch (err) {
      // Say which entry, keeping the status (400, or 413 for its data).
      if (err instanceof PusherApiError) throw new PusherApiError(err.status, `batch[${i}]: ${err.message}`);
      throw err;
    }
  });
}
