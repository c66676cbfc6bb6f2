/**
 * How the bench publishes for a Pusher app over HTTP: the Pusher HTTP API's trigger
 * (`POST /apps/{id}/events`, signed with the app's secret), as a Pusher server SDK sends it.
 */
import type { ApiPublishRequest } from "../peers/adapter.js";
import type { PusherApp } from "./app.js";
import { signedPath } from "./signing.js";

/** One event to trigger. */
export interface PusherEvent {
  /** The Pusher channel name (no namespace). */
  channel: string;
  event: string;
  /** The event's data as a JSON string literal, quotes included (a bench payload): Pusher's data is a string. */
  data: string;
}

/** The signed `POST /apps/{id}/events` for `event`, at `nowS` seconds since the Unix epoch. */
export function pusherEventsRequest(app: PusherApp, event: PusherEvent, nowS: number): ApiPublishRequest {
  const body = `{"name":${JSON.stringify(event.event)},"channel":${JSON.stringify(event.channel)},"data":${event.data}}`;
  return {
    path: signedPath(app, { method: "POST", path: `/apps/${encodeURIComponent(app.id)}/events`, body, nowS }),
    body,
    headers: {},
  };
}

/** Most events Pusher's `batch_events` takes in one request. */
export const PUSHER_BATCH_LIMIT = 10;

/** The signed `POST /apps/{id}/batch_events` for `events` (at most {@link PUSHER_BATCH_LIMIT}), published in order. */
export function pusherBatchRequest(app: PusherApp, events: readonly PusherEvent[], nowS: number): ApiPublishRequest {
  const batch = events.map(
    (e) => `{"name":${JSON.stringify(e.event)},"channel":${JSON.stringify(e.channel)},"data":${e.data}}`,
  );
  const body = `{"batch":[${batch.join(",")}]}`;
  return {
    path: signedPath(app, { method: "POST", path: `/apps/${encodeURIComponent(app.id)}/batch_events`, body, nowS }),
    body,
    headers: {},
  };
}

/**
 * The Hubcast channel that holds Pusher channel `channel` of an app with its own namespace
 * (`pusher.<id>:<channel>`): where Hubcast's server API publishes for it. An app configured
 * to share a namespace holds its channels there instead; publish through the Pusher API then.
 */
export const ownNamespaceChannel = (app: PusherApp, channel: string): string => `pusher.${app.id}:${channel}`;
