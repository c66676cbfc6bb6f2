import type { JsonValue, PublicationPush } from "@hubcast/protocol";
import { applyDelta, getDeltaTargetSize } from "fossil-delta";

/** The largest publication a delta may rebuild, in bytes: a corrupt size cannot make the SDK build more. */
export const MAX_DELTA_TARGET_BYTES = 64 * 1024 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What {@link DeltaBase.resolve} made of a publication push. */
export type Resolved =
  /** The publication as the app sees it: full data, none of the wire's delta fields. */
  | { kind: "publication"; publication: PublicationPush }
  /** A delta with nothing to apply it to: the server starts every subscription in full, so it belongs to an earlier one. */
  | { kind: "no-base" }
  /** A delta that does not apply (its checksum, its size or its result is wrong): data was lost or corrupted on the way. */
  | { kind: "failed"; error: Error };

/** A publication push as the app sees it, without the wire's delta fields (`delta`, `rawData`). */
export function appPublication(push: PublicationPush): PublicationPush {
  const { rawData: _rawData, delta: _delta, ...publication } = push;
  return publication;
}

/**
 * One subscription's side of delta compression: the data of the last publication it received
 * (as it travelled, the bytes the server's deltas are computed against), and turning each
 * publication push into full data. A fossil delta carries a checksum of the data it rebuilds,
 * so a delta applied to the wrong base is detected, never handed to the app.
 */
export class DeltaBase {
  private base: Uint8Array | string | undefined;

  /** A new subscription on the server: its first publication comes in full. */
  reset(): void {
    this.base = undefined;
  }

  resolve(push: PublicationPush): Resolved {
    const { rawData, delta, ...publication } = push;
    if (delta !== true) {
      this.base = rawData;
      return { kind: "publication", publication };
    }
    if (this.base === undefined || rawData === undefined || typeof rawData === "string") return { kind: "no-base" };
    try {
      if (getDeltaTargetSize(rawData) > MAX_DELTA_TARGET_BYTES)
        throw new Error(`the delta rebuilds more than ${MAX_DELTA_TARGET_BYTES} bytes`);
      const base = typeof this.base === "string" ? encoder.encode(this.base) : this.base;
      const data = applyDelta(base, rawData);
      publication.data = JSON.parse(decoder.decode(data)) as JsonValue;
      this.base = data;
      return { kind: "publication", publication };
    } catch (error) {
      this.base = undefined;
      return { kind: "failed", error: error instanceof Error ? error : new Error(String(error)) };
    }
  }
}
