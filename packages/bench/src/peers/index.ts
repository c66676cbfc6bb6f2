import type { ProtocolAdapter } from "./adapter.js";
import { hubcastAdapter } from "./hubcast.js";
import { pusherAdapter } from "./pusher.js";
import { socketIoAdapter } from "./socketio.js";
import { wsPlainAdapter } from "./ws-plain.js";

export type { ProtocolAdapter, IncomingFrame, ApiPublishRequest, ApiAuth } from "./adapter.js";
export { Incoming, incomingFrame } from "./adapter.js";

/** Every protocol `--protocol` accepts, by name. Adapters for other servers are added here. */
export const adapters: Readonly<Record<string, ProtocolAdapter>> = Object.freeze({
  [hubcastAdapter.name]: hubcastAdapter,
  [socketIoAdapter.name]: socketIoAdapter,
  [wsPlainAdapter.name]: wsPlainAdapter,
  [pusherAdapter.name]: pusherAdapter,
});

/** The adapter named `name`; throws a TypeError listing the known ones. */
export function adapterByName(name: string): ProtocolAdapter {
  const adapter = adapters[name];
  if (adapter === undefined) {
    throw new TypeError(`--protocol ${name} is not known; use one of: ${Object.keys(adapters).join(", ")}`);
  }
  return adapter;
}
