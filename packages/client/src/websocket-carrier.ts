import type { Carrier, CarrierEvents, CarrierFactory } from "./carrier.js";
import type { WebSocketConstructor, WebSocketLike } from "./options.js";

interface MessageEventLike {
  data: unknown;
}
interface CloseEventLike {
  code: number;
  reason: string;
}

const noop = (): void => {};

// Longest close reason WebSocket allows is 123 bytes; ASCII reasons under this stay valid.
const MAX_REASON_CHARS = 120;

function frameData(data: unknown): string | Uint8Array | undefined {
  if (typeof data === "string") return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return undefined;
}

function socketError(event: unknown): Error {
  const detail = (event as { error?: unknown; message?: unknown } | null) ?? {};
  if (detail.error instanceof Error) return detail.error;
  const message = typeof detail.message === "string" && detail.message !== "" ? `: ${detail.message}` : "";
  return new Error(`WebSocket error${message}`);
}

/** A WebSocket as a {@link Carrier}: the codec's subprotocol is the only one offered. */
class WebSocketCarrier implements Carrier {
  private readonly socket: WebSocketLike;

  constructor(websocket: WebSocketConstructor, url: string, subprotocol: string, events: CarrierEvents) {
    this.socket = new websocket(url, subprotocol);
    this.socket.binaryType = "arraybuffer";
    this.socket.onopen = () => events.onOpen();
    this.socket.onmessage = (event: MessageEventLike) => {
      const frame = frameData(event.data);
      if (frame === undefined)
        events.onError(new Error(`unexpected WebSocket message data of type ${typeof event.data}`));
      else events.onFrame(frame);
    };
    this.socket.onclose = (event: CloseEventLike) => {
      this.detach();
      events.onClose({ code: event.code, reason: event.reason });
    };
    this.socket.onerror = (event: unknown) => events.onError(socketError(event));
  }

  send(frame: string | Uint8Array): void {
    this.socket.send(frame);
  }

  close(code: number, reason: string): void {
    this.detach();
    this.socket.close(code, reason.slice(0, MAX_REASON_CHARS));
  }

  // No-op handlers rather than null: `ws` throws an unhandled "error" with no listener.
  private detach(): void {
    this.socket.onopen = noop;
    this.socket.onmessage = noop;
    this.socket.onclose = noop;
    this.socket.onerror = noop;
  }
}

/** Carriers over `websocket` (the browser's `WebSocket`, or `ws` on Node 20). */
export function webSocketCarrier(websocket: WebSocketConstructor): CarrierFactory {
  return (url, codec, events) => new WebSocketCarrier(websocket, url, codec.subprotocol, events);
}
