import type { JsonValue, Publication, RawPublication } from "@hubcast/protocol";
import { MAX_DATA_DEPTH, jsonValueWithinDepth, parseJsonData } from "@hubcast/protocol";
import type { NodeContext } from "../context.js";

/**
 * Stored publications as replies carry them (history, recovery, the server API), leaving out
 * any a reader could not decode or encode: data that is not UTF-8 JSON or nests deeper than
 * `MAX_DATA_DEPTH`, or an entry the store could not read (`unreadable`, by offset); written by
 * an older version, or straight into the engine. Each one left out is logged at warn and
 * counted in `hubcast_publications_skipped_total`. Never throws.
 *
 * The limit is `MAX_DATA_DEPTH`, not the node's `maxDataDepth`: this check is about what can be
 * encoded, and lowering the option must not hide history that was accepted under a higher one.
 */
export function readablePublications(
  channel: string,
  stored: { publications: readonly RawPublication[]; unreadable?: readonly number[] },
  ctx: Pick<NodeContext, "logger" | "metrics">,
): Publication[] {
  const out: Publication[] = [];
  for (const raw of stored.publications) {
    const read = readOne(raw, stored.unreadable);
    if ("problem" in read) {
      ctx.metrics.publicationSkipped();
      ctx.logger.warn(
        { channel, offset: raw.offset, bytes: raw.data.length },
        `stored publication skipped: its ${read.problem}`,
      );
      continue;
    }
    out.push(read.pub);
  }
  return out;
}

function readOne(
  raw: RawPublication,
  unreadable: readonly number[] | undefined,
): { pub: Publication } | { problem: string } {
  const parsed = parseJsonData(raw.data, MAX_DATA_DEPTH);
  if (!parsed.ok) return { problem: `data ${parsed.problem}` };
  if (raw.offset !== undefined && unreadable?.includes(raw.offset) === true) return { problem: "info is not JSON" };
  // Info is written by nodes from the auth hook's reply, but a store can hold anything.
  if (raw.info !== undefined && !jsonValueWithinDepth(raw.info, MAX_DATA_DEPTH))
    return { problem: `info nests deeper than ${MAX_DATA_DEPTH} levels` };
  const pub: Publication = { data: parsed.value as JsonValue };
  if (raw.offset !== undefined) pub.offset = raw.offset;
  if (raw.info !== undefined) pub.info = raw.info;
  return { pub };
}
