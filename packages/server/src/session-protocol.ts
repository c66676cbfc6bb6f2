import type { ClientInfo } from "@hubcast/protocol";

/**
 * What a session speaks above its transport when that is not Hubcast's own protocol (the
 * Pusher protocol on `/app/{key}`). The session keeps everything shared: the write queue and
 * budget, the rate limit, the liveness sweep, the Hub subscriptions. The protocol reads the
 * client's messages, decides access, and says what a subscription's end means to others.
 */
export interface SessionProtocol {
  /**
   * One whole message from the client. `admitted` is false when it came faster than the rate
   * limit allows: the protocol refuses it in its own terms. Throwing ends this connection (3001).
   */
  onMessage(data: Buffer, binary: boolean, admitted: boolean): void;
  /**
   * A subscription ended (unsubscribed, or the connection closed): the Hub has already let it go;
   * the protocol removes its presence entry and tells others. `live`: it had been confirmed.
   */
  released(channel: string, live: boolean): void;
  /** This connection's presence entry in `channel`, re-added by the node's refresh before it expires. */
  presenceInfo(channel: string): ClientInfo;
  /** The close code this protocol's clients understand for a catalogue close code. */
  closeCode(code: number): number;
  /** The connection has closed, after every subscription was released. */
  closed(): void;
}
