import type { HistoryPolicy } from "../broker/broker.js";
import type { HistoryPage, HistoryQuery, HistoryStore } from "./history.js";
import type { NatsChannelLog } from "./nats-log.js";

/** History on NATS: reads the channel log the broker appends to (see NatsChannelLog). */
export class NatsHistory implements HistoryStore {
  constructor(private readonly log: NatsChannelLog) {}

  async read(channel: string, query: HistoryQuery, policy: HistoryPolicy): Promise<HistoryPage> {
    const head = await this.log.position(channel, policy);
    const position = { offset: head.offset, epoch: head.epoch };
    if (query.limit <= 0) return { publications: [], position };
    const after = query.since !== undefined && query.since.epoch === head.epoch ? query.since.offset : 0;
    const stored = await this.log.publications(channel, head, policy, after);
    const chosen = query.reverse === true ? stored.reverse().slice(0, query.limit) : stored.slice(0, query.limit);
    const page: HistoryPage = { publications: [], position };
    const unreadable: number[] = [];
    for (const stored of chosen) {
      const { unreadable: bad, ...pub } = stored;
      if (bad === true && pub.offset !== undefined) unreadable.push(pub.offset);
      page.publications.push(pub);
    }
    if (unreadable.length > 0) page.unreadable = unreadable;
    return page;
  }

  remove(channel: string): Promise<void> {
    return this.log.remove(channel);
  }
}
