import { randomUUID } from "node:crypto";
import type { RawPublication, StreamPosition } from "@hubcast/protocol";
import { newEpoch } from "@hubcast/emitter";
import type { JetStreamClient, JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import { AckPolicy, DeliverPolicy, JetStreamApiError } from "@nats-io/jetstream";
import { NoRespondersError, TimeoutError, headers, nanos } from "@nats-io/transport-node";
import type { MsgHdrs } from "@nats-io/transport-node";
import type { HistoryPolicy, PublishOptions } from "../broker/broker.js";
import { PublishExpiredError, PublishOutcomeUnknownError } from "../broker/broker.js";
import type { NatsNames } from "../engine/nats-names.js";
import { HEADER, channelToken } from "../engine/nats-names.js";

/** JetStream's answer when `Nats-Expected-Last-Subject-Sequence` does not hold. */
const WRONG_LAST_SEQUENCE = 10071;
/** Publishes lost to concurrent publishers before giving up; each loss means another one won. */
const MAX_ATTEMPTS = 50;
/** Heads remembered for publishing; a forgotten one costs one read. */
const MAX_CACHED_HEADS = 10_000;

/** The last message stored on a channel's subject: a publication, or a marker (offset 0). */
export interface Head {
  seq: number;
  offset: number;
  epoch: string;
  /** When it was stored, ms since the epoch (the NATS server's clock). */
  timeMs: number;
}

function headOf(msg: Pick<StoredMsg, "seq" | "time"> & { header?: MsgHdrs }): Head | undefined {
  const epoch = msg.header?.get(HEADER.epoch) ?? "";
  const offset = Number(msg.header?.get(HEADER.offset) ?? "");
  if (epoch === "" || !Number.isInteger(offset)) return undefined; // written by someone else: treat as lost
  return { seq: msg.seq, offset, epoch, timeMs: msg.time.getTime() };
}

/**
 * Every channel's history as one JetStream stream, a subject per channel. Each stored message
 * carries its offset and epoch in headers; an append names the sequence of the subject's last
 * message (`Nats-Expected-Last-Subject-Sequence`), so of two nodes appending after the same
 * message one wins and the other re-reads and retries: offsets are gap-free without a lock.
 * A channel whose last message is gone (purged, aged out) or older than its `metaTtlMs`
 * starts a new epoch at offset 1.
 */
export class NatsChannelLog {
  private readonly heads = new Map<string, Head>();

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly names: NatsNames,
    private readonly publishTimeoutMs: number,
  ) {}

  /** The subject's last message as a head; `undefined` when the subject holds none. */
  async last(channel: string): Promise<Head | undefined> {
    const msg = await this.jsm.streams.getMessage(this.names.stream, { last_by_subj: this.names.history(channel) });
    return msg === null ? undefined : headOf(msg);
  }

  /**
   * The channel's live position; a channel without one (never published, or lost) gets a marker
   * at offset 0 with a new epoch, stored like a publication so every node reads the same epoch.
   */
  async position(channel: string, policy: HistoryPolicy): Promise<Head> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const head = await this.last(channel);
      if (head !== undefined && !stale(head, policy)) return head;
      const h = headers();
      h.set(HEADER.kind, "marker");
      const marker = { offset: 0, epoch: newEpoch() };
      try {
        return await this.store(channel, new Uint8Array(0), h, marker, head?.seq ?? 0, this.publishTimeoutMs);
      } catch (err) {
        if (!wrongLastSequence(err)) throw err;
      }
    }
    throw new Error(`could not settle the position of channel ${channel}: too many concurrent writers`);
  }

  /**
   * Appends one publication (see `Broker.publish` for the contract). Every append carries a
   * message id (the idempotency key, else a random one), so an attempt whose acknowledgement
   * was lost can be sent again: the stream answers "duplicate" with the first one's sequence.
   * Attempts go on while NATS elects a stream leader (no responders) until the deadline, or
   * `publishTimeoutMs` without one.
   */
  async append(
    pub: Omit<RawPublication, "offset">,
    policy: HistoryPolicy,
    options: PublishOptions = {},
  ): Promise<StreamPosition> {
    const { deadline, idempotencyKey } = options;
    const giveUpAt = Math.min(deadline ?? Number.POSITIVE_INFINITY, Date.now() + this.publishTimeoutMs);
    const h = headers();
    if (pub.info !== undefined) h.set(HEADER.info, JSON.stringify(pub.info));
    // Dedupe is stream-wide, so the key is scoped to the channel.
    h.set("Nats-Msg-Id", `${channelToken(pub.channel)}.${idempotencyKey ?? `~${randomUUID()}`}`);
    // True while an attempt whose answer never came may have been stored; a later refusal of
    // the same message id for its offset (not "duplicate") proves it was not.
    let maybeMade = false;
    let backoffMs = 25;
    const pause = async (): Promise<void> => {
      await new Promise((resolve) => setTimeout(resolve, Math.min(backoffMs, Math.max(0, giveUpAt - Date.now()))));
      backoffMs = Math.min(backoffMs * 2, 500);
    };
    for (let attempt = 0; attempt < MAX_ATTEMPTS && Date.now() < giveUpAt; attempt++) {
      let head: Head | undefined;
      try {
        head = this.heads.get(pub.channel) ?? (await this.last(pub.channel));
      } catch (err) {
        if (!(err instanceof TimeoutError) && !noResponders(err))
          throw maybeMade ? outcomeUnknown(pub.channel, err) : err;
        await pause();
        continue;
      }
      const next =
        head === undefined || stale(head, policy)
          ? { offset: 1, epoch: newEpoch() }
          : { offset: head.offset + 1, epoch: head.epoch };
      try {
        const stored = await this.store(
          pub.channel,
          pub.data,
          h,
          next,
          head?.seq ?? 0,
          Math.max(1, giveUpAt - Date.now()),
        );
        return stored.duplicate ? await this.original(pub.channel, stored.seq) : next;
      } catch (err) {
        this.heads.delete(pub.channel);
        if (wrongLastSequence(err)) {
          maybeMade = false; // refused: another publication took the offset
          continue;
        }
        if (noResponders(err)) {
          await pause(); // no stream leader right now (an election after a server died): nothing was stored
          continue;
        }
        if (err instanceof JetStreamApiError) throw maybeMade ? outcomeUnknown(pub.channel, err) : err; // refused for good
        // No answer (a timeout, a broken connection): maybe stored; the message id makes the next attempt safe.
        maybeMade = true;
        if (!(err instanceof TimeoutError)) await pause();
      }
    }
    if (maybeMade) throw outcomeUnknown(pub.channel, undefined);
    if (deadline !== undefined && Date.now() >= deadline)
      throw new PublishExpiredError(`publish to ${pub.channel} reached its deadline before it was made`);
    throw new Error(
      `could not publish to channel ${pub.channel}: NATS did not accept it within ${this.publishTimeoutMs} ms`,
    );
  }

  /**
   * The channel's publications in the current epoch that its policy still keeps, oldest first:
   * none once `ttlMs` passed since the last publication, else at most the newest `size`.
   */
  async publications(
    channel: string,
    head: Head,
    policy: HistoryPolicy,
    afterOffset: number,
  ): Promise<(RawPublication & { unreadable?: true })[]> {
    if (head.offset === 0 || Date.now() - head.timeMs > policy.ttlMs) return [];
    const from = Math.max(afterOffset + 1, head.offset - policy.size + 1);
    if (from > head.offset) return []; // nothing missed: the common resubscribe costs no read
    const out: (RawPublication & { unreadable?: true })[] = [];
    // One short-lived consumer on the channel's subject streams its messages in one go (JetStream
    // 2.9 has no batch read by subject); it holds no acks and lives in memory on one server.
    const info = await this.jsm.consumers.add(this.names.stream, {
      filter_subject: this.names.history(channel),
      deliver_policy: DeliverPolicy.All,
      ack_policy: AckPolicy.None,
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: nanos(30_000), // in case this node dies before deleting it
    });
    try {
      if (info.num_pending === 0) return out;
      const consumer = await this.js.consumers.get(this.names.stream, info.name);
      const messages = await consumer.fetch({ max_messages: info.num_pending, expires: this.publishTimeoutMs });
      for await (const msg of messages) {
        const at = headOf({ seq: msg.seq, header: msg.headers, time: new Date(msg.info.timestampNanos / 1e6) });
        if (
          at !== undefined &&
          at.epoch === head.epoch &&
          at.offset >= from &&
          at.offset <= head.offset &&
          msg.headers?.get(HEADER.kind) !== "marker"
        ) {
          out.push(publicationOf(channel, msg.data, msg.headers, at.offset));
        }
        if (msg.seq >= head.seq) break;
      }
      return out;
    } finally {
      await this.jsm.consumers.delete(this.names.stream, info.name);
    }
  }

  /** Drops a channel's history; its next position has a new epoch. */
  async remove(channel: string): Promise<void> {
    this.heads.delete(channel);
    await this.jsm.streams.purge(this.names.stream, { filter: this.names.history(channel) });
  }

  private async store(
    channel: string,
    data: Uint8Array,
    h: MsgHdrs,
    at: StreamPosition,
    expectSeq: number,
    timeoutMs: number,
  ): Promise<Head & { duplicate: boolean }> {
    h.set(HEADER.offset, String(at.offset));
    h.set(HEADER.epoch, at.epoch);
    const ack = await this.js.publish(this.names.history(channel), data, {
      headers: h,
      timeout: timeoutMs,
      expect: { lastSubjectSequence: expectSeq },
    });
    const head = { seq: ack.seq, offset: at.offset, epoch: at.epoch, timeMs: Date.now() };
    if (!ack.duplicate) this.remember(channel, head);
    return { ...head, duplicate: ack.duplicate };
  }

  /** The position of the publication a duplicate's key first made; the current one if it is gone. */
  private async original(channel: string, seq: number): Promise<StreamPosition> {
    const msg = await this.jsm.streams.getMessage(this.names.stream, { seq });
    const head = msg === null ? undefined : headOf(msg);
    if (head !== undefined) return { offset: head.offset, epoch: head.epoch };
    const current = await this.last(channel);
    if (current === undefined)
      throw new PublishOutcomeUnknownError(`the publication first made with this key in ${channel} is gone`);
    return { offset: current.offset, epoch: current.epoch };
  }

  private remember(channel: string, head: Head): void {
    this.heads.delete(channel);
    this.heads.set(channel, head);
    if (this.heads.size > MAX_CACHED_HEADS) {
      const oldest = this.heads.keys().next();
      if (oldest.done !== true) this.heads.delete(oldest.value);
    }
  }
}

function outcomeUnknown(channel: string, cause: unknown): PublishOutcomeUnknownError {
  return new PublishOutcomeUnknownError(`no acknowledgement from NATS for a publish to ${channel} in time`, { cause });
}

/** A position not refreshed by a publication within `metaTtlMs` is forgotten, as on Redis. */
function stale(head: Head, policy: HistoryPolicy): boolean {
  return Date.now() - head.timeMs > policy.metaTtlMs;
}

/** NATS had no one to take the message (no stream leader, JetStream unavailable): it was not stored. */
function noResponders(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof NoRespondersError || e.name === "JetStreamNotEnabled") return true;
  }
  return false;
}

function wrongLastSequence(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === WRONG_LAST_SEQUENCE;
}

/** A stored message as a publication; unreadable info is left out and reported by offset. */
export function publicationOf(
  channel: string,
  data: Uint8Array,
  header: MsgHdrs | undefined,
  offset: number,
): RawPublication & { unreadable?: true } {
  const pub: RawPublication & { unreadable?: true } = { channel, data, offset };
  const info = header?.get(HEADER.info) ?? "";
  if (info !== "") {
    try {
      pub.info = JSON.parse(info) as RawPublication["info"];
    } catch {
      pub.unreadable = true;
    }
  }
  return pub;
}
