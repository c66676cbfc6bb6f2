/**
 * Decides, across the cluster, when a Pusher app's channel became occupied or vacated and
 * when a presence member really came or went, with Pusher's delay against reloads (Pusher
 * waits up to three seconds before channel_vacated and member_removed). Nodes agree
 * through the PresenceStore alone: each records its occupancy of a channel there as one entry
 * (client id = node id, info `{since}`), and every decision is "write mine, then read all".
 *
 * Guarantees, given that each store operation is atomic and one node's operations on one
 * channel run in call order:
 * - No vacated for an occupied channel: `channel_vacated` is sent only when, `delayMs` after
 *   a node's last local subscriber left, it removed its entry and a read found no other node's
 *   entry. A node that records an occupancy after that read is part of a new occupancy (next).
 * - No missed occupied: after any instant at which the store held no entry for a channel, its
 *   next occupancy sends at least one `channel_occupied`. Each node that records an occupancy
 *   sends it when no entry it then reads is earlier (`since`, then node id), and the earliest
 *   of all those entries finds none earlier. At least once, not exactly once: two nodes racing
 *   within one store round trip with skewed clocks can both send it.
 * - A reload that lands on another node within `delayMs` sends nothing: the leaving node keeps
 *   its entry (marked vacating) until its delay ends, so the joining node does not find itself
 *   earliest, and the leaving node then finds the joiner and sends no vacated.
 * - `member_removed` is sent when, `delayMs` after the user's last connection left, no entry
 *   of the channel's presence has that user. A `member_added` is skipped while some node
 *   delays a removal of the same user (a "leaving" marker in the store); that node removes
 *   its marker before it reads presence, so it sees the new connection and sends no
 *   `member_removed`. A leaving connection's marker is written before its presence entry is
 *   removed ({@link WebhookTracker.memberLeaving}), so a node that finds the user gone finds
 *   the marker too: a reload onto another node sends nothing. A node that reads the markers
 *   just as the delay ends can still send a second `member_added`.
 *
 * Limits: events decided on different nodes travel separately, so a receiver can get one
 * node's `channel_occupied` before the `channel_vacated` another node decided just before it
 * (Pusher promises no order either). A node that dies without `close()` leaves its entries
 * until the store expires them, and their channels get no `channel_vacated`. When the store
 * fails, the tracker logs, counts (`onError`) and errs towards an extra `channel_occupied` or
 * `member_added` and a missing `channel_vacated` or `member_removed`.
 */
import type { ClientInfo } from "@hubcast/protocol";
import type { Logger } from "pino";
import type { PresenceStore } from "../presence/presence.js";
import { checkInteger, checkString } from "../validation.js";
import type { ResolvedPusherApp, WebhookEventName } from "./apps.js";
import type { WebhookEvent } from "./webhooks.js";
import { wantsWebhook } from "./webhooks.js";

/**
 * The store channel holding each node's occupancy of an app's Hubcast channel. It has a space,
 * which no channel name may have, so it is never a client's channel.
 */
export const occupancyChannel = (app: ResolvedPusherApp, hubcastChannel: string): string =>
  `hubcast.occupancy ${app.id} ${hubcastChannel}`;

/** The store channel holding the users whose `member_removed` some node is delaying. */
export const leavingChannel = (app: ResolvedPusherApp, hubcastChannel: string): string =>
  `hubcast.leaving ${app.id} ${hubcastChannel}`;

export interface WebhookTrackerOptions {
  /** This node's id, unique in the cluster: the client id of its occupancy entries. */
  nodeId: string;
  /** The cluster's presence store (the same one presence channels use). */
  presence: PresenceStore;
  /** How often this node re-adds its occupancy entries; below the store's entry TTL (`presenceTtlMs`). */
  refreshMs: number;
  /**
   * How long `channel_vacated` and `member_removed` wait, so a reload sends nothing. Pusher
   * waits up to three seconds. Keep it below the store's entry TTL. @default 3_000
   */
  delayMs?: number;
  /** How long `close()` may wait for the store. @default 5_000 */
  closeTimeoutMs?: number;
  /** Where decided events go (`WebhookSender.queue`). Called synchronously or from store callbacks; must not throw. */
  send: (app: ResolvedPusherApp, event: WebhookEvent) => void;
  logger: Logger;
  /** Called for every failed store operation; for metrics (each is also logged). */
  onError?: (err: unknown) => void;
}

const OCCUPANCY_EVENTS: readonly WebhookEventName[] = ["channel_occupied", "channel_vacated"];
const MEMBER_EVENTS: readonly WebhookEventName[] = ["member_added", "member_removed"];

/** Store operations of one key, one at a time in call order: an add and a later remove never swap. */
class Serial {
  private tail: Promise<void> = Promise.resolve();
  /** Operations queued or running. */
  ops = 0;

  run(op: () => Promise<void>, onError: (err: unknown) => void): Promise<void> {
    this.ops++;
    this.tail = this.tail
      .then(op)
      .catch(onError)
      .finally(() => {
        this.ops--;
      });
    return this.tail;
  }
}

/** This node's occupancy of one channel of one app. */
interface Occupancy {
  readonly app: ResolvedPusherApp;
  readonly channel: string;
  readonly key: string;
  /** When this occupancy began (this node's clock): orders the nodes' claims. */
  since: number;
  /** `vacating`: no local subscriber, within the delay; `leaving`: entry being removed, or gone. */
  phase: "occupied" | "vacating" | "leaving";
  timer: NodeJS.Timeout | undefined;
  refreshing: boolean;
  readonly serial: Serial;
}

/** A user leaving a presence channel on this node: being decided, within the delay, or its marker being removed. */
interface Leaving {
  readonly app: ResolvedPusherApp;
  readonly channel: string;
  readonly hubcastChannel: string;
  readonly userId: string;
  readonly key: string;
  timer: NodeJS.Timeout | undefined;
  /** Connections announced by memberLeaving whose outcome (memberRemoved, memberStayed) has not come. */
  deciding: number;
  /** This node's marker for the user is in the store, or on its way. */
  marked: boolean;
  readonly serial: Serial;
}

/**
 * Turns one node's local view (first subscriber here, last one gone, a member's first and last
 * connection) into Pusher's webhook events for the cluster; see the module comment for what is
 * guaranteed. Costs nothing for apps without a target for the events concerned. Holds one
 * record per channel this node occupies and per user within the removal delay.
 */
export class WebhookTracker {
  private readonly nodeId: string;
  private readonly delayMs: number;
  private readonly closeTimeoutMs: number;
  private readonly channels = new Map<string, Occupancy>();
  private readonly leaving = new Map<string, Leaving>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly refreshTimer: NodeJS.Timeout;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: WebhookTrackerOptions) {
    this.nodeId = checkString("nodeId", options.nodeId, /^.+$/, "a non-empty node id");
    this.delayMs = checkInteger("delayMs", options.delayMs ?? 3_000, 0);
    this.closeTimeoutMs = checkInteger("closeTimeoutMs", options.closeTimeoutMs ?? 5_000, 0);
    this.refreshTimer = setInterval(() => this.refresh(), checkInteger("refreshMs", options.refreshMs, 1));
    this.refreshTimer.unref();
  }

  /** This node's local subscriber count of `channel` (Pusher name) went 0 → 1. */
  occupiedLocally(app: ResolvedPusherApp, channel: string, hubcastChannel: string): void {
    if (this.closing !== undefined || !wantsAny(app, OCCUPANCY_EVENTS)) return;
    const key = occupancyChannel(app, hubcastChannel);
    let state = this.channels.get(key);
    if (state === undefined) {
      state = {
        app,
        channel,
        key,
        since: 0,
        phase: "leaving",
        timer: undefined,
        refreshing: false,
        serial: new Serial(),
      };
      this.channels.set(key, state);
    }
    if (state.phase === "occupied") return;
    if (state.phase === "vacating") {
      // Back within the delay: as if the channel had never been left here.
      clearTimeout(state.timer);
      state.timer = undefined;
      state.phase = "occupied";
      const info = this.occupancyInfo(state);
      this.run(state.serial, () => this.options.presence.add(key, info));
      return;
    }
    state.phase = "occupied";
    state.since = Date.now();
    const info = this.occupancyInfo(state);
    const since = state.since;
    this.run(state.serial, () => this.claim(app, channel, key, { info, since }));
  }

  /** This node's local subscriber count of `channel` went 1 → 0. */
  vacatedLocally(app: ResolvedPusherApp, _channel: string, hubcastChannel: string): void {
    if (this.closing !== undefined) return;
    const state = this.channels.get(occupancyChannel(app, hubcastChannel));
    if (state?.phase !== "occupied") return;
    state.phase = "vacating";
    const info = this.occupancyInfo(state);
    this.run(state.serial, () => this.options.presence.add(state.key, info));
    state.timer = setTimeout(() => this.decideVacated(state), this.delayMs);
    state.timer.unref();
  }

  /**
   * `userId`'s first connection to presence channel `channel` in the cluster, as the caller
   * decided after its presence entry was added to the store.
   */
  memberAdded(app: ResolvedPusherApp, channel: string, hubcastChannel: string, userId: string): void {
    if (this.closing !== undefined || !wantsAny(app, MEMBER_EVENTS)) return;
    const pending = this.leaving.get(leavingKey(app, hubcastChannel, userId));
    if (pending?.timer !== undefined) {
      // A reload on this node: the user never left.
      clearTimeout(pending.timer);
      pending.timer = undefined;
      if (pending.deciding === 0) this.unmark(pending); // else the leave in flight decides
      return;
    }
    this.track(this.addMemberUnlessLeaving(app, channel, hubcastChannel, userId));
  }

  /**
   * A connection of `userId` is leaving presence channel `channel`, before its presence entry
   * is removed: writes this node's leaving marker for the user, so that a node that finds the
   * user gone from presence meanwhile also finds the marker and holds back its `member_added`.
   * Resolves once the marker is written (or failed: the failure is logged and counted). Follow
   * it with {@link memberRemoved} when it was the user's last connection, else {@link memberStayed}.
   */
  memberLeaving(app: ResolvedPusherApp, channel: string, hubcastChannel: string, userId: string): Promise<void> {
    if (this.closing !== undefined || !wantsAny(app, MEMBER_EVENTS)) return Promise.resolve();
    const pending = this.leavingOf(app, channel, hubcastChannel, userId);
    pending.deciding += 1;
    return this.mark(pending);
  }

  /** The connection announced by {@link memberLeaving} was not the user's last here: nothing to report. */
  memberStayed(app: ResolvedPusherApp, _channel: string, hubcastChannel: string, userId: string): void {
    const pending = this.leaving.get(leavingKey(app, hubcastChannel, userId));
    if (pending === undefined || pending.deciding === 0) return;
    pending.deciding -= 1;
    if (pending.deciding === 0 && pending.timer === undefined) this.unmark(pending);
  }

  /**
   * `userId`'s last connection to `channel` went (as the caller sees it), after its presence
   * entry was removed from the store. `member_removed` follows `delayMs` later unless the user is
   * back by then; a repeated call restarts the delay.
   */
  memberRemoved(app: ResolvedPusherApp, channel: string, hubcastChannel: string, userId: string): void {
    if (this.closing !== undefined || !wantsAny(app, MEMBER_EVENTS)) return;
    const pending = this.leavingOf(app, channel, hubcastChannel, userId);
    if (pending.deciding > 0) pending.deciding -= 1;
    void this.mark(pending); // written already, unless no memberLeaving came first (a node that died)
    if (pending.timer !== undefined) clearTimeout(pending.timer);
    pending.timer = setTimeout(() => this.decideRemoved(pending), this.delayMs);
    pending.timer.unref();
  }

  private leavingOf(app: ResolvedPusherApp, channel: string, hubcastChannel: string, userId: string): Leaving {
    const id = leavingKey(app, hubcastChannel, userId);
    let pending = this.leaving.get(id);
    if (pending === undefined) {
      const key = leavingChannel(app, hubcastChannel);
      pending = {
        app,
        channel,
        hubcastChannel,
        userId,
        key,
        timer: undefined,
        deciding: 0,
        marked: false,
        serial: new Serial(),
      };
      this.leaving.set(id, pending);
    }
    return pending;
  }

  /** Writes this node's marker for the user unless it is there; resolves when the write (or the one before) is done. */
  private mark(pending: Leaving): Promise<void> {
    if (!pending.marked) {
      pending.marked = true;
      const marker: ClientInfo = { client: this.markerId(pending.userId), user: pending.userId };
      this.run(pending.serial, () => this.options.presence.add(pending.key, marker));
    }
    return pending.serial.run(
      () => Promise.resolve(),
      (err) => this.failed(err),
    );
  }

  /** Removes this node's marker for the user, then forgets the user if nothing else is pending. */
  private unmark(pending: Leaving): void {
    pending.marked = false;
    this.run(
      pending.serial,
      () => this.options.presence.remove(pending.key, this.markerId(pending.userId)),
      () => this.forgetLeaving(pending),
    );
  }

  /** A client event: sent at once. */
  clientEvent(app: ResolvedPusherApp, event: Omit<Extract<WebhookEvent, { name: "client_event" }>, "name">): void {
    if (this.closing !== undefined || !wantsWebhook(app, "client_event")) return;
    this.options.send(app, { name: "client_event", ...event });
  }

  /** Resolves once the store operations started so far have finished, with the decisions they make. */
  async settled(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }

  /**
   * Stops the refresh and decides at once what was waiting for its delay, and every channel
   * this node still occupies, since its subscribers leave with it: its entries are removed and
   * a `channel_vacated` / `member_removed` is sent where no one else is left. Close this before
   * the sender. Waits up to `closeTimeoutMs` for the store; later calls do nothing.
   */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    clearInterval(this.refreshTimer);
    for (const state of this.channels.values()) {
      if (state.phase !== "leaving") this.decideVacated(state);
    }
    for (const pending of this.leaving.values()) {
      if (pending.timer !== undefined) this.decideRemoved(pending);
    }
    let deadline: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      deadline = setTimeout(() => resolve(true), this.closeTimeoutMs);
    });
    const done = Promise.all([...this.inflight]).then(() => false);
    if (await Promise.race([done, timedOut])) {
      this.options.logger.warn({ pending: this.inflight.size }, "webhook tracker closed before the store answered");
    }
    clearTimeout(deadline);
  }

  /** Records this node's new occupancy, then sends `channel_occupied` if it is the earliest recorded. */
  private async claim(
    app: ResolvedPusherApp,
    channel: string,
    key: string,
    claim: { info: ClientInfo; since: number },
  ): Promise<void> {
    let entries: Record<string, ClientInfo>;
    try {
      await this.options.presence.add(key, claim.info);
      entries = await this.options.presence.get(key);
    } catch (err) {
      // Unsure who is first: an extra occupied beats a missing one.
      this.failed(err);
      this.options.send(app, { name: "channel_occupied", channel });
      return;
    }
    if (isEarliest(entries, this.nodeId, claim.since)) this.options.send(app, { name: "channel_occupied", channel });
  }

  /** The delay after the last local subscriber ended (or close): removes this node's entry, then looks for others. */
  private decideVacated(state: Occupancy): void {
    clearTimeout(state.timer);
    state.timer = undefined;
    state.phase = "leaving";
    const { app, channel, key } = state;
    const decide = async (): Promise<void> => {
      try {
        await this.options.presence.remove(key, this.nodeId);
      } catch (err) {
        this.failed(err); // the entry expires unrefreshed; it is ignored below
      }
      // Only our own entry can be here if the remove failed: re-occupying queues its add behind this.
      const entries = await this.options.presence.get(key);
      if (!Object.keys(entries).some((id) => id !== this.nodeId)) {
        this.options.send(app, { name: "channel_vacated", channel });
      }
    };
    this.run(state.serial, decide, () => {
      if (state.phase === "leaving" && state.serial.ops === 0 && this.channels.get(key) === state) {
        this.channels.delete(key);
      }
    });
  }

  /** Sends `member_added` unless some node is delaying a removal of the same user. */
  private async addMemberUnlessLeaving(
    app: ResolvedPusherApp,
    channel: string,
    hubcastChannel: string,
    userId: string,
  ): Promise<void> {
    let markers: Record<string, ClientInfo>;
    try {
      markers = await this.options.presence.get(leavingChannel(app, hubcastChannel));
    } catch (err) {
      this.failed(err);
      markers = {}; // an extra member_added beats a missing one
    }
    if (Object.values(markers).some((marker) => marker.user === userId)) return;
    this.options.send(app, { name: "member_added", channel, user_id: userId });
  }

  /** The delay after a user's last connection ended (or close): drops the marker, then looks for the user. */
  private decideRemoved(pending: Leaving): void {
    clearTimeout(pending.timer);
    pending.timer = undefined;
    pending.marked = false;
    const { app, channel, hubcastChannel, userId, key } = pending;
    const decide = async (): Promise<void> => {
      // Marker first: a node that saw the marker added its connection before, so the read below sees it.
      try {
        await this.options.presence.remove(key, this.markerId(userId));
      } catch (err) {
        this.failed(err); // the marker expires; until then it only skips member_added
      }
      const entries = await this.options.presence.get(hubcastChannel);
      if (!Object.values(entries).some((entry) => entry.user === userId)) {
        this.options.send(app, { name: "member_removed", channel, user_id: userId });
      }
    };
    this.run(pending.serial, decide, () => this.forgetLeaving(pending));
  }

  private forgetLeaving(pending: Leaving): void {
    const id = leavingKey(pending.app, pending.hubcastChannel, pending.userId);
    const idle = pending.timer === undefined && pending.deciding === 0 && !pending.marked && pending.serial.ops === 0;
    if (idle && this.leaving.get(id) === pending) {
      this.leaving.delete(id);
    }
  }

  /** Re-adds this node's entries before the store expires them; skips those still being written. */
  private refresh(): void {
    for (const state of this.channels.values()) {
      if (state.phase === "leaving" || state.refreshing) continue;
      state.refreshing = true;
      const info = this.occupancyInfo(state);
      this.run(
        state.serial,
        () => this.options.presence.add(state.key, info),
        () => {
          state.refreshing = false;
        },
      );
    }
  }

  private occupancyInfo(state: Occupancy): ClientInfo {
    const info: Record<string, number | boolean> = { since: state.since };
    if (state.phase === "vacating") info["vacating"] = true;
    return { client: this.nodeId, user: "", info };
  }

  /** Marker client ids: one per (node, user), unambiguous whatever either contains. */
  private markerId(userId: string): string {
    return JSON.stringify([this.nodeId, userId]);
  }

  /** Runs `op` in its key's order; failures are logged and counted; `after` runs once it settled. */
  private run(serial: Serial, op: () => Promise<void>, after?: () => void): void {
    this.track(serial.run(op, (err) => this.failed(err)).then(after));
  }

  private track(work: Promise<void>): void {
    const tracked = work.catch((err: unknown) => this.failed(err));
    this.inflight.add(tracked);
    void tracked.then(() => this.inflight.delete(tracked));
  }

  private failed(err: unknown): void {
    this.options.logger.warn({ err }, "webhook tracker: presence store operation failed");
    this.options.onError?.(err);
  }
}

const leavingKey = (app: ResolvedPusherApp, hubcastChannel: string, userId: string): string =>
  `${app.id}\n${hubcastChannel}\n${userId}`;

const wantsAny = (app: ResolvedPusherApp, names: readonly WebhookEventName[]): boolean =>
  names.some((name) => wantsWebhook(app, name));

/** True when no entry but ours has an earlier `since` (equal: the smaller node id). Unreadable entries count as later. */
function isEarliest(entries: Record<string, ClientInfo>, nodeId: string, since: number): boolean {
  for (const [id, entry] of Object.entries(entries)) {
    if (id === nodeId) continue;
    const other = sinceOf(entry);
    if (other < since || (other === since && id < nodeId)) return false;
  }
  return true;
}

function sinceOf(entry: ClientInfo): number {
  const info = entry.info;
  if (typeof info !== "object" || info === null || Array.isArray(info)) return Number.POSITIVE_INFINITY;
  const since = info["since"];
  return typeof since === "number" ? since : Number.POSITIVE_INFINITY;
}
