import type { Codec } from "@hubcast/protocol";
import type { CarrierFactory } from "./carrier.js";

/**
 * Whether a WebSocket to `url` opens within `timeoutMs`: it is closed (1000) as soon as it
 * does, before any command. A client on a fallback transport asks this before it goes back to
 * WebSocket, so that it drops a working connection only for one that opens.
 */
export function probeWebSocket(
  carrier: CarrierFactory,
  url: string,
  codec: Codec,
  timeoutMs: number,
): Promise<boolean> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (opened: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        probe?.close(1000, "probe");
      } catch {
        // Closing a socket that never opened may throw in some implementations; the answer stands.
      }
      resolve(opened);
    };
    const timer = setTimeout(() => settle(false), timeoutMs);
    let probe: ReturnType<CarrierFactory> | undefined;
    try {
      probe = carrier(url, codec, {
        onOpen: () => settle(true),
        onFrame: () => {},
        onClose: () => settle(false),
        onError: () => {},
      });
    } catch {
      settle(false);
    }
  });
}
