/**
 * Carriers the test drives by hand, for the SDK's transport choice: each carrier the client
 * creates is handed to the test, which opens, answers or fails it.
 */
import WebSocket from "ws";
import type { ConnectResult } from "@hubcast/protocol";
import type { CarrierEvents, CarrierFactory } from "../src/carrier.js";
import { Client } from "../src/client.js";
import type { ClientOptions } from "../src/options.js";
import type { TransportName } from "../src/transports.js";
import { withTimeout } from "./scripted-server.js";

/** One carrier the client created. */
export class FakeCarrier {
  /** Frames the client sent, decoded. */
  readonly sent: Record<string, unknown>[] = [];
  closedBy: { code: number; reason: string } | undefined;

  constructor(
    readonly transport: TransportName,
    private readonly events: CarrierEvents,
  ) {}

  /** The carrier reports that it is open (a WebSocket's open event). */
  open(): void {
    this.events.onOpen();
  }

  /** Fails before the node said anything, as a proxy that refuses the transport. */
  fail(): void {
    this.events.onClose({ code: 1006, reason: "refused" });
  }

  /** Opens, and answers the client's `connect` frame with `result`. */
  async accept(result: Partial<ConnectResult> = {}): Promise<void> {
    this.open();
    // The client sends connect from its open handler, possibly a few promise turns later.
    for (let turn = 0; turn < 10 && !this.sent.some((frame) => "connect" in frame); turn++) await Promise.resolve();
    const connect = this.sent.find((frame) => "connect" in frame);
    if (connect === undefined) throw new Error(`no connect frame on ${this.transport}`);
    const reply = { client: "c1", version: 1, pingIntervalMs: 60_000, maxMessageBytes: 65_536, ...result };
    this.events.onFrame(JSON.stringify({ id: connect["id"], connect: reply }));
  }

  /** The connection drops after it worked. */
  drop(): void {
    this.events.onClose({ code: 1006, reason: "cut" });
  }
}

/** Every carrier the clients of one test create, in order, by transport. */
export class FakeNetwork {
  readonly created: FakeCarrier[] = [];
  private taken = 0;
  private readonly waiters: (() => void)[] = [];

  /** Factories for `transports`: what {@link Client} would get from the environment. */
  factories(transports: readonly TransportName[]): Partial<Record<TransportName, CarrierFactory>> {
    const factories: Partial<Record<TransportName, CarrierFactory>> = {};
    for (const transport of transports) {
      factories[transport] = (_url, _codec, events) => {
        const carrier = new FakeCarrier(transport, events);
        this.created.push(carrier);
        for (const wake of this.waiters.splice(0)) wake();
        return {
          send: (frame) => carrier.sent.push(JSON.parse(String(frame)) as Record<string, unknown>),
          close: (code, reason) => {
            carrier.closedBy = { code, reason };
          },
        };
      };
    }
    return factories;
  }

  /** The next carrier not yet handed out, in creation order. */
  async next(timeoutMs = 2000): Promise<FakeCarrier> {
    const index = this.taken++;
    const arrived = async (): Promise<FakeCarrier> => {
      while (this.created[index] === undefined) await new Promise<void>((resolve) => this.waiters.push(resolve));
      return this.created[index] as FakeCarrier;
    };
    return withTimeout(arrived(), timeoutMs, `carrier #${index + 1}`);
  }
}

/**
 * A client whose carriers come from `network`; `available` are the transports the
 * environment is taken to have (all three by default).
 */
export function fakeClient(
  network: FakeNetwork,
  options: ClientOptions = {},
  available: readonly TransportName[] = ["websocket", "http-stream", "sse"],
): Client {
  class FakeCarrierClient extends Client {
    protected override carrierFactories(): Partial<Record<TransportName, CarrierFactory>> {
      return network.factories(available);
    }
  }
  return new FakeCarrierClient("ws://hubcast.test/ws", {
    websocket: WebSocket,
    timeoutMs: 1000,
    minReconnectDelayMs: 5,
    maxReconnectDelayMs: 50,
    ...options,
  });
}
