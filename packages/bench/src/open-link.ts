import { EmulationConnection } from "./emulation/connection.js";
import type { EmulationSender } from "./emulation/sender.js";
import { Transport } from "./transport.js";
import type { Link, LinkListener } from "./transport.js";
import { WsConnection } from "./ws/connection.js";
import type { WsTarget } from "./ws/handshake.js";

/** What {@link openLink} needs; the emulations also need the connect frame and the worker's POST pool. */
export interface OpenLinkOptions {
  transport: Transport;
  target: WsTarget;
  subprotocol: string | undefined;
  localAddress?: string | undefined;
  handshakeTimeoutMs?: number;
  /** Emulations: the protocol's connect frame, sent with the request that opens the stream. */
  connectFrame?: string | undefined;
  /** Emulations: where the client's frames are POSTed. */
  sender?: EmulationSender | undefined;
}

/**
 * Opens a connection over `transport`. Over WebSocket the owner sends its connect frame once
 * `onOpen` is called; over an emulation it went with the request (`connectFrame`), and `onOpen`
 * means the stream has started: the connect reply comes next.
 */
export function openLink(o: OpenLinkOptions, listener: LinkListener): Link {
  if (o.transport === Transport.websocket) {
    return new WsConnection(
      {
        target: o.target,
        subprotocol: o.subprotocol,
        localAddress: o.localAddress,
        ...(o.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: o.handshakeTimeoutMs }),
      },
      listener,
    );
  }
  if (o.connectFrame === undefined || o.sender === undefined)
    throw new TypeError(`--transport ${o.transport} needs a protocol with a connect frame (hubcast)`);
  return new EmulationConnection(
    {
      target: o.target,
      sse: o.transport === Transport.sse,
      connectFrame: o.connectFrame,
      sender: o.sender,
      localAddress: o.localAddress,
      ...(o.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: o.handshakeTimeoutMs }),
    },
    listener,
  );
}
