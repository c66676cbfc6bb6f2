import type { RawPublication } from "@hubcast/protocol";
import { createDelta } from "fossil-delta";
import type { Subscriber } from "./fanout.js";

/**
 * One channel's delta compression on one node: the data of the last publication fanned out to
 * the channel's live subscribers (the base), and which subscribers that asked for deltas hold
 * it. The delta is computed once per publication, whatever the number of subscribers; per
 * subscriber fan-out only looks it up in {@link ready}.
 *
 * Invariant: while `base` is defined, every subscriber in `ready` has received exactly the
 * publication whose data `base` is, and that was the last one it received. Anything that may
 * break this (a gap being repaired, a new epoch) calls {@link restart}: the next publication
 * then goes in full to everyone, and becomes the new base.
 *
 * Memory: one payload per channel (bounded like any publication), held only while a
 * subscriber wants deltas.
 */
export class DeltaChain {
  private base: Uint8Array | undefined;
  /** Subscribers that asked for deltas and hold `base`. */
  readonly ready = new Set<Subscriber>();
  /** Subscribers that asked for deltas and have not yet had a full publication since they went live. */
  private readonly fresh = new Set<Subscriber>();

  /** A live subscriber that asked for deltas: its next publication comes in full. */
  add(sub: Subscriber): void {
    this.ready.delete(sub);
    this.fresh.add(sub);
  }

  remove(sub: Subscriber): void {
    this.ready.delete(sub);
    this.fresh.delete(sub);
    if (this.ready.size === 0 && this.fresh.size === 0) this.base = undefined;
  }

  /** The chain broke (a gap, a repair, a new epoch): the next publication goes in full to everyone. */
  restart(): void {
    this.base = undefined;
  }

  /**
   * The version of `pub` for {@link ready}: its data as a delta against the base, computed once;
   * `undefined` when everyone gets it in full (no base yet, nobody ready, or a delta no smaller
   * than the data).
   */
  deltaOf(pub: RawPublication): RawPublication | undefined {
    if (this.base === undefined || this.ready.size === 0) return undefined;
    const delta = createDelta(this.base, pub.data);
    if (delta.length >= pub.data.length) return undefined;
    const { channel, offset, info } = pub;
    return { channel, data: delta, offset, info, delta: true };
  }

  /** `pub` went to every live subscriber except `except`: it is the base from now on. */
  advance(pub: RawPublication, except: string | undefined): void {
    if (this.ready.size === 0 && this.fresh.size === 0) return;
    this.base = ownBytes(pub.data);
    for (const sub of this.fresh) this.ready.add(sub);
    this.fresh.clear();
    if (except === undefined) return;
    // The skipped connection did not get it; only the Pusher protocol skips, and it never asks for deltas.
    for (const sub of this.ready) {
      if (sub.id !== except) continue;
      this.ready.delete(sub);
      this.fresh.add(sub);
    }
  }
}

/** `data`, copied when it is a view into a larger buffer (a socket read, Node's pool) that keeping it would pin. */
function ownBytes(data: Uint8Array): Uint8Array {
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : new Uint8Array(data);
}
