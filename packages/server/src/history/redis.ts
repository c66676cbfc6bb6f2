import type { RawPublication } from "@hubcast/protocol";
import type { RedisCommander, RedisKeys } from "@hubcast/emitter";
import { READ_HISTORY, newEpoch } from "@hubcast/emitter";
import type { HistoryPolicy } from "../broker/broker.js";
import type { HistoryPage, HistoryQuery, HistoryStore } from "./history.js";

/** One stream entry as XRANGE returns it: [id, [field, value, …]]. */
type StreamEntry = [Buffer, Buffer[]];

/** One entry as a publication; `readable: false` when its info (written by anyone with access to Redis) is not JSON. */
function toPublication(channel: string, [id, fields]: StreamEntry): { pub: RawPublication; readable: boolean } {
  const pub: RawPublication = { channel, data: new Uint8Array(0), offset: Number.parseInt(id.toString("latin1"), 10) };
  let readable = true;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i]?.toString("latin1");
    const value = fields[i + 1] as Buffer;
    if (name === "d") pub.data = value;
    else if (name === "i" && value.length > 0) {
      try {
        pub.info = JSON.parse(value.toString("utf8")) as RawPublication["info"];
      } catch {
        readable = false; // reported by the reader through HistoryPage.unreadable, not thrown: one entry must not fail the whole read
      }
    }
  }
  return { pub, readable };
}

/** History in Redis: a stream per channel (entry id = offset) plus a position hash, read by one script. */
export class RedisHistory implements HistoryStore {
  constructor(
    private readonly redis: RedisCommander,
    private readonly keys: RedisKeys,
  ) {}

  async read(channel: string, query: HistoryQuery, policy: HistoryPolicy): Promise<HistoryPage> {
    const reply = (await READ_HISTORY.run(
      this.redis,
      [this.keys.stream(channel), this.keys.meta(channel)],
      [
        newEpoch(),
        String(policy.metaTtlMs),
        query.since?.epoch ?? "",
        String(query.since?.offset ?? 0),
        String(query.limit),
        query.reverse === true ? "1" : "0",
      ],
    )) as [Buffer, number | Buffer, StreamEntry[]];
    const epoch = reply[0].toString();
    const offset = Number(reply[1].toString());
    const entries = reply[2].map((entry) => toPublication(channel, entry));
    const page: HistoryPage = { publications: entries.map((e) => e.pub), position: { offset, epoch } };
    const unreadable = entries.filter((e) => !e.readable).map((e) => e.pub.offset as number);
    if (unreadable.length > 0) page.unreadable = unreadable;
    return page;
  }

  async remove(channel: string): Promise<void> {
    const stream = this.keys.stream(channel);
    await this.redis.send(stream, ["DEL", stream, this.keys.meta(channel)]);
  }
}
