import type { ClientInfo, RawPublication } from "@hubcast/protocol";

/**
 * What travels on a channel's pub/sub channel, in a layout a node splits without parsing the
 * payload: `<type><offset>\n<epoch>\n<info JSON>\n<data>`. `type` is `p` (publication), `j`
 * (join) or `l` (leave); offset, epoch and info may be empty; data runs to the end.
 */
export type BrokerMessage =
  | { type: "publication"; pub: RawPublication }
  | { type: "join" | "leave"; channel: string; info: ClientInfo };

const NEWLINE = 0x0a;
const TYPES: Record<number, "publication" | "join" | "leave"> = { 112: "publication", 106: "join", 108: "leave" };

/** Encodes a join or leave (publications are encoded by the publish script, inside Redis). */
export function encodeJoinLeave(type: "join" | "leave", info: ClientInfo): Buffer {
  return Buffer.from(`${type === "join" ? "j" : "l"}\n\n${JSON.stringify(info)}\n`);
}

/** Encodes a publication without history (no offset), published with a plain PUBLISH. */
export function encodePlainPublication(data: Uint8Array, info: ClientInfo | undefined): Buffer {
  return Buffer.concat([Buffer.from(`p\n\n${info === undefined ? "" : JSON.stringify(info)}\n`), data]);
}

/** Splits a message received on `channel`'s pub/sub channel; `undefined` when it is not ours. */
export function decodeBrokerMessage(channel: string, message: Buffer): BrokerMessage | undefined {
  const type = TYPES[message[0] ?? 0];
  const first = message.indexOf(NEWLINE, 1);
  const second = first < 0 ? -1 : message.indexOf(NEWLINE, first + 1);
  const third = second < 0 ? -1 : message.indexOf(NEWLINE, second + 1);
  if (type === undefined || third < 0) return undefined;
  const infoText = message.toString("utf8", second + 1, third);
  let info: ClientInfo | undefined;
  try {
    info = infoText === "" ? undefined : (JSON.parse(infoText) as ClientInfo);
  } catch {
    return undefined;
  }
  if (type !== "publication") return info === undefined ? undefined : { type, channel, info };
  const pub: RawPublication = { channel, data: message.subarray(third + 1) };
  const offsetText = message.toString("latin1", 1, first);
  if (offsetText !== "") {
    const offset = Number(offsetText);
    if (!/^\d+$/.test(offsetText) || !Number.isSafeInteger(offset)) return undefined;
    pub.offset = offset;
  }
  if (second > first + 1) pub.epoch = message.toString("utf8", first + 1, second);
  if (info !== undefined) pub.info = info;
  return { type, pub };
}
