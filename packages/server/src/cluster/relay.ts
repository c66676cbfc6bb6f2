import type { Logger } from "pino";
import { PublishExpiredError } from "../broker/broker.js";
import type { MemoryEngine } from "../engine/memory.js";
import type { RelayLink } from "./relay-link.js";
import type { RelayCall, RelayEvent, RelayMessage } from "./relay-protocol.js";

/** One worker as the relay sees it: its link and what it holds, to drop when it goes. */
interface Peer {
  readonly link: RelayLink;
  /** It has sent a request, so it listens: control messages may go to it. */
  active: boolean;
  readonly channels: Set<string>;
  /** Channel → ids of the clients this worker added to presence there. */
  readonly presence: Map<string, Set<string>>;
  /** Node ids this worker announced. */
  readonly nodes: Set<string>;
}

/**
 * The primary's side of the memory engine in a cluster: one real MemoryEngine serving the
 * IpcEngine of every worker over its link. Requests run in arrival order, each engine call
 * made at once, so a worker's publications are appended and fanned out in the order it sent
 * them; publications and join/leave go only to the workers subscribed to the channel. When a
 * worker's link closes (it exited), its subscriptions, presence entries and registry entries
 * are dropped.
 */
export class EngineRelay {
  private readonly peers = new Set<Peer>();
  private readonly subscribers = new Map<string, Set<Peer>>();

  constructor(
    private readonly engine: MemoryEngine,
    private readonly logger: Logger,
  ) {}

  /** Starts the engine's broker, delivering to the workers. Call once, before `attach`. */
  start(): Promise<void> {
    return this.engine.broker.start({
      publication: (pub) => this.fanOut(pub.channel, { kind: "publication", pub }),
      join: (channel, info) => this.fanOut(channel, { kind: "join", channel, info }),
      leave: (channel, info) => this.fanOut(channel, { kind: "leave", channel, info }),
      resync: () => undefined, // an in-process broker loses nothing
      control: (message) => {
        for (const peer of this.peers) if (peer.active) peer.link.send({ kind: "control", message });
      },
    });
  }

  /** Workers attached now. */
  get size(): number {
    return this.peers.size;
  }

  /** Serves the worker at the other end of `link` until the link closes. */
  attach(link: RelayLink): void {
    const peer: Peer = { link, active: false, channels: new Set(), presence: new Map(), nodes: new Set() };
    this.peers.add(peer);
    link.listen(
      (message) => this.receive(peer, message),
      () => this.detach(peer),
    );
  }

  /** Drops every worker and closes the engine. */
  async close(): Promise<void> {
    for (const peer of [...this.peers]) this.detach(peer);
    await this.engine.close();
  }

  private receive(peer: Peer, message: RelayMessage): void {
    if (message.kind !== "request") return;
    peer.active = true;
    const { id, call } = message;
    let result: Promise<unknown>;
    try {
      result = this.run(peer, call);
    } catch (err) {
      result = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    result.then(
      (value) => peer.link.send({ kind: "reply", id, ok: true, value: value ?? null }),
      (err: unknown) => {
        const expired = err instanceof PublishExpiredError;
        if (!expired) this.logger.warn({ err, op: call.op }, "relayed engine call failed");
        peer.link.send({
          kind: "reply",
          id,
          ok: false,
          error: err instanceof Error ? err.message : String(err),
          ...(expired ? { expired } : {}),
        });
      },
    );
  }

  /** Runs one call; its effect on the engine happens before this returns. */
  private run(peer: Peer, call: RelayCall): Promise<unknown> {
    const { broker, history, presence, registry } = this.engine;
    switch (call.op) {
      case "subscribe":
        for (const channel of call.channels) this.subscribe(peer, channel);
        return Promise.resolve(null);
      case "unsubscribe":
        for (const channel of call.channels) this.unsubscribe(peer, channel);
        return Promise.resolve(null);
      case "publish":
        // The deadline is checked here, where the publish executes: a request that sat in a
        // stopped worker's or primary's queue past it is refused.
        return broker.publish(call.pub, call.policy, call.options);
      case "publishJoin":
        return broker.publishJoin(call.channel, call.info);
      case "publishLeave":
        return broker.publishLeave(call.channel, call.info);
      case "publishControl":
        return broker.publishControl(call.message);
      case "historyRead":
        return history.read(call.channel, call.query, call.policy);
      case "historyRemove":
        return history.remove(call.channel);
      case "presenceAdd":
        track(peer.presence, call.channel, call.info.client);
        return presence.add(call.channel, call.info);
      case "presenceRemove":
        untrack(peer.presence, call.channel, call.clientId);
        return presence.remove(call.channel, call.clientId);
      case "presenceGet":
        return presence.get(call.channel);
      case "presenceStats":
        return presence.stats(call.channel);
      case "registryAnnounce":
        peer.nodes.add(call.info.id);
        return registry.announce(call.info);
      case "registryRemove":
        peer.nodes.delete(call.nodeId);
        return registry.remove(call.nodeId);
      case "registryList":
        return registry.list();
    }
  }

  private fanOut(channel: string, event: RelayEvent): void {
    const peers = this.subscribers.get(channel);
    if (peers === undefined) return;
    for (const peer of peers) peer.link.send(event);
  }

  private subscribe(peer: Peer, channel: string): void {
    if (peer.channels.has(channel)) return;
    peer.channels.add(channel);
    let peers = this.subscribers.get(channel);
    if (peers === undefined) {
      peers = new Set();
      this.subscribers.set(channel, peers);
      this.engineCall("subscribe", this.engine.broker.subscribe([channel]));
    }
    peers.add(peer);
  }

  private unsubscribe(peer: Peer, channel: string): void {
    if (!peer.channels.delete(channel)) return;
    const peers = this.subscribers.get(channel);
    if (peers === undefined) return;
    peers.delete(peer);
    if (peers.size > 0) return;
    this.subscribers.delete(channel);
    this.engineCall("unsubscribe", this.engine.broker.unsubscribe([channel]));
  }

  private detach(peer: Peer): void {
    if (!this.peers.delete(peer)) return;
    for (const channel of [...peer.channels]) this.unsubscribe(peer, channel);
    let entries = 0;
    for (const [channel, clients] of peer.presence) {
      for (const client of clients) this.engineCall("presence remove", this.engine.presence.remove(channel, client));
      entries += clients.size;
    }
    for (const node of peer.nodes) this.engineCall("registry remove", this.engine.registry.remove(node));
    peer.link.close();
    this.logger.info({ presenceEntries: entries, nodes: peer.nodes.size }, "relay: worker gone; dropped what it held");
  }

  /** The memory engine settles at once; a failure would be a bug, so it is logged, never dropped. */
  private engineCall(what: string, call: Promise<void>): void {
    call.catch((err: unknown) => this.logger.error({ err }, `relay: memory engine ${what} failed`));
  }
}

function track(index: Map<string, Set<string>>, channel: string, client: string): void {
  let clients = index.get(channel);
  if (clients === undefined) {
    clients = new Set();
    index.set(channel, clients);
  }
  clients.add(client);
}

function untrack(index: Map<string, Set<string>>, channel: string, client: string): void {
  const clients = index.get(channel);
  if (clients === undefined) return;
  clients.delete(client);
  if (clients.size === 0) index.delete(channel);
}
