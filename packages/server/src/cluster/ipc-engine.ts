import type { ClientInfo, RawPublication, StreamPosition } from "@hubcast/protocol";
import { Batcher } from "../broker/batcher.js";
import type { Broker, BrokerHandlers, HistoryPolicy, PublishOptions } from "../broker/broker.js";
import { refuseExpired, withinDeadline } from "../broker/publish-deadline.js";
import type { Engine } from "../engine/engine.js";
import type { HistoryPage, HistoryQuery, HistoryStore } from "../history/history.js";
import type { PresenceStore } from "../presence/presence.js";
import type { NodeInfo, NodeRegistry } from "../registry/registry.js";
import { RelayCallError, RelayClosedError } from "./errors.js";
import { RelayClient } from "./relay-client.js";
import type { RelayClientOptions } from "./relay-client.js";
import type { RelayLink } from "./relay-link.js";
import type { RelayEvent } from "./relay-protocol.js";

/** A broker whose publications, subscriptions and control messages go through the primary's relay. */
class IpcBroker implements Broker {
  private handlers: BrokerHandlers | undefined;
  // A burst of subscribes (a reconnect storm) travels as a few requests, as with Redis.
  private readonly subscribes = new Batcher<string>((channels) =>
    this.client.call({ op: "subscribe", channels }).then(() => undefined),
  );
  private readonly unsubscribes = new Batcher<string>((channels) =>
    this.client.call({ op: "unsubscribe", channels }).then(() => undefined),
  );

  constructor(private readonly client: RelayClient) {}

  /** Hands one relayed event to the node. */
  deliver(event: RelayEvent): void {
    const handlers = this.handlers;
    if (handlers === undefined) return;
    switch (event.kind) {
      case "publication":
        return handlers.publication(event.pub);
      case "join":
        return handlers.join(event.channel, event.info);
      case "leave":
        return handlers.leave(event.channel, event.info);
      case "control":
        return handlers.control(event.message);
    }
  }

  start(handlers: BrokerHandlers): Promise<void> {
    this.handlers = handlers;
    return Promise.resolve();
  }

  subscribe(channels: readonly string[]): Promise<void> {
    return this.subscribes.add(channels);
  }

  unsubscribe(channels: readonly string[]): Promise<void> {
    return this.unsubscribes.add(channels);
  }

  /** The primary checks the deadline where it runs the publish; one unanswered by then, or lost with the link, has an unknown outcome. */
  async publish(
    pub: Omit<RawPublication, "offset">,
    policy: HistoryPolicy,
    options?: PublishOptions,
  ): Promise<StreamPosition | undefined> {
    refuseExpired(options, Date.now());
    if (!this.client.isOpen) throw new RelayClosedError("relay publish: the link is closed"); // not sent: the publish was not made
    const call = this.client.call({ op: "publish", pub, policy, ...(options === undefined ? {} : { options }) });
    return (await withinDeadline(call, options, (err) => err instanceof RelayCallError)) ?? undefined;
  }

  async publishJoin(channel: string, info: ClientInfo): Promise<void> {
    await this.client.call({ op: "publishJoin", channel, info });
  }

  async publishLeave(channel: string, info: ClientInfo): Promise<void> {
    await this.client.call({ op: "publishLeave", channel, info });
  }

  async publishControl(message: Uint8Array): Promise<void> {
    await this.client.call({ op: "publishControl", message });
  }

  close(): Promise<void> {
    this.handlers = undefined;
    return Promise.resolve();
  }
}

class IpcHistory implements HistoryStore {
  constructor(private readonly client: RelayClient) {}

  read(channel: string, query: HistoryQuery, policy: HistoryPolicy): Promise<HistoryPage> {
    return this.client.call({ op: "historyRead", channel, query, policy });
  }

  async remove(channel: string): Promise<void> {
    await this.client.call({ op: "historyRemove", channel });
  }
}

class IpcPresence implements PresenceStore {
  constructor(private readonly client: RelayClient) {}

  async add(channel: string, info: ClientInfo): Promise<void> {
    await this.client.call({ op: "presenceAdd", channel, info });
  }

  async remove(channel: string, clientId: string): Promise<void> {
    await this.client.call({ op: "presenceRemove", channel, clientId });
  }

  get(channel: string): Promise<Record<string, ClientInfo>> {
    return this.client.call({ op: "presenceGet", channel });
  }

  stats(channel: string): Promise<{ numClients: number; numUsers: number }> {
    return this.client.call({ op: "presenceStats", channel });
  }

  close(): Promise<void> {
    return Promise.resolve(); // the link belongs to the engine
  }
}

class IpcRegistry implements NodeRegistry {
  constructor(private readonly client: RelayClient) {}

  async announce(info: NodeInfo): Promise<void> {
    await this.client.call({ op: "registryAnnounce", info });
  }

  async remove(nodeId: string): Promise<void> {
    await this.client.call({ op: "registryRemove", nodeId });
  }

  list(): Promise<NodeInfo[]> {
    return this.client.call({ op: "registryList" });
  }

  close(): Promise<void> {
    return Promise.resolve(); // the link belongs to the engine
  }
}

/**
 * A cluster worker's engine with the memory engine: every operation runs in the primary's one
 * MemoryEngine (see EngineRelay), so offsets, epochs, history, presence and the node registry
 * are the same in every worker, and publications reach exactly the workers subscribed to the
 * channel, in offset order. Presence entries and registry entries of a worker that exits are
 * dropped by the primary, so nothing needs refreshing.
 */
export class IpcEngine implements Engine {
  readonly name = "memory-relay";
  readonly broker: IpcBroker;
  readonly history: HistoryStore;
  readonly presence: PresenceStore;
  readonly registry: NodeRegistry;
  private readonly client: RelayClient;

  /** `link` is this worker's end of the link to the relay; it belongs to the engine from now on. */
  constructor(link: RelayLink, options: RelayClientOptions = {}) {
    this.client = new RelayClient(link, (event) => this.broker.deliver(event), options);
    this.broker = new IpcBroker(this.client);
    this.history = new IpcHistory(this.client);
    this.presence = new IpcPresence(this.client);
    this.registry = new IpcRegistry(this.client);
  }

  /** Ready while the link to the primary is open. */
  isReady(): boolean {
    return this.client.isOpen;
  }

  async close(): Promise<void> {
    await this.broker.close();
    this.client.close();
  }
}
