import type { RawPublication, StreamPosition } from "@hubcast/protocol";
import type { HistoryPage } from "./history/history.js";

/**
 * The publications after `since` when `page` (read with `since`) holds every one of them;
 * `undefined` when it cannot prove nothing is missing (other epoch, trimmed, or `since` ahead).
 */
export function recoverSince(since: StreamPosition, page: HistoryPage): RawPublication[] | undefined {
  const { position } = page;
  if (since.epoch !== position.epoch || since.offset > position.offset) return undefined;
  return page.publications.length === position.offset - since.offset ? page.publications : undefined;
}
