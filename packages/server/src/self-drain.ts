import type { Logger } from "pino";
import { drainSessions } from "./drain.js";
import type { Session } from "./session.js";

/** The close reason of a self-drain, so clients and logs tell it from a shutdown. */
export const UNREADY_REASON = "node unready: reconnect to another node";

/** How long one peer's `/readyz` may take to answer before it counts as not ready, in ms. */
const PEER_PROBE_TIMEOUT_MS = 1_000;

/** What a {@link SelfDrain} watches and acts on. */
export interface SelfDrainOptions {
  /** Unready for longer than this, in ms, the node drains; 0 never. */
  graceMs: number;
  isReady: () => boolean;
  sessions: ReadonlySet<Session>;
  /** The spread of one drain for `count` sessions, in ms (see {@link selfDrainWindowMs}). */
  windowMs: (count: number) => number;
  /** Whether another node is ready to take the clients: true, false (none known, or none ready), undefined (cannot tell). */
  peerReady: () => Promise<boolean | undefined>;
  logger: Logger;
  metrics: { selfDrained(): void };
}

/**
 * Spreads a drain at the rate one peer admits new connections (`maxConnectionsPerSecond`, the
 * same option on every node of a deployment), at least 500 ms, at most `drainWindowMs`.
 */
export function selfDrainWindowMs(count: number, maxConnectionsPerSecond: number, drainWindowMs: number): number {
  const admissionMs = maxConnectionsPerSecond > 0 ? Math.ceil((count * 1_000) / maxConnectionsPerSecond) : 0;
  return Math.min(drainWindowMs, Math.max(500, admissionMs));
}

/**
 * Moves the clients of a node that stays unready to nodes that can serve them. A node whose
 * engine link is down or silent cannot deliver, yet its clients' sockets stay healthy, so
 * neither they nor the balancer's health check (which only steers new connections) would move
 * them. Once the node has been unready for `graceMs`, and some peer answers its `/readyz` with
 * 200 (or none can be asked), it asks its clients to reconnect (close 3000, `reconnect: true`),
 * spread over the window, and refuses new connections with 503 until it is ready again. When
 * every known peer answers not ready (a cluster-wide outage) there is nowhere better to go: it
 * keeps its clients, which resume in place once the engine is back, and asks again each tick.
 * When a peer turns ready after such a shared outage, the node gives itself another `graceMs`
 * to follow before it drains: nodes reconnect to a recovered engine within moments of each
 * other, and moving every client of the one that was a little slower would be a needless storm.
 * One drain per unready episode; a node that turns ready stops refusing and stops a drain in progress.
 */
export class SelfDrain {
  private readonly timer: NodeJS.Timeout | undefined;
  private unreadySince = 0;
  private episode = false;
  private probing = false;
  /** Some probe of this episode found no peer ready: the outage is (or was) shared. */
  private sharedOutage = false;
  /** When a probe first found a peer ready after a shared outage; 0 before. */
  private peerReadySince = 0;

  constructor(private readonly options: SelfDrainOptions) {
    if (options.graceMs <= 0) return;
    const tickMs = Math.max(50, Math.min(500, Math.floor(options.graceMs / 4)));
    this.timer = setInterval(() => void this.tick(), tickMs);
    this.timer.unref();
  }

  /** True while the node drains itself: new connections are refused. */
  get refusing(): boolean {
    return this.episode;
  }

  stop(): void {
    clearInterval(this.timer);
    this.episode = false;
  }

  private async tick(): Promise<void> {
    const { isReady, graceMs, logger } = this.options;
    const now = Date.now();
    if (isReady()) {
      if (this.episode) logger.warn({ unreadyMs: now - this.unreadySince }, "node ready again; accepting connections");
      this.episode = false;
      this.unreadySince = 0;
      this.sharedOutage = false;
      this.peerReadySince = 0;
      return;
    }
    if (this.unreadySince === 0) this.unreadySince = now;
    if (this.episode || this.probing || now - this.unreadySince < graceMs) return;
    this.probing = true;
    const peerReady = await this.options.peerReady().finally(() => {
      this.probing = false;
    });
    if (isReady() || this.episode) return;
    if (peerReady === false) {
      if (!this.sharedOutage)
        logger.warn(
          { unreadyMs: Date.now() - this.unreadySince },
          "node unready, but no peer is ready either: keeping clients until one is",
        );
      this.sharedOutage = true;
      this.peerReadySince = 0;
      return;
    }
    if (this.sharedOutage) {
      if (this.peerReadySince === 0) {
        this.peerReadySince = Date.now();
        logger.warn(
          { unreadyMs: this.peerReadySince - this.unreadySince, graceMs },
          "a peer is ready again: keeping clients while this node catches up",
        );
      }
      if (Date.now() - this.peerReadySince < graceMs) return;
    }
    this.drain(now);
  }

  private drain(now: number): void {
    const { sessions, logger } = this.options;
    this.episode = true;
    this.options.metrics.selfDrained();
    const windowMs = this.options.windowMs(sessions.size);
    logger.error(
      { unreadyMs: now - this.unreadySince, connections: sessions.size, windowMs },
      "node unready past unreadyDrainGraceMs: asking clients to reconnect to another node",
    );
    void drainSessions(sessions, windowMs, { reason: UNREADY_REASON, cancelled: () => !this.episode });
  }
}

/**
 * Asks every address's `/readyz` at once: true when one answers 200; false when there is none,
 * or every one answers another status; undefined when none is ready but one could not be asked
 * (its answer unknown, so the drain goes ahead rather than keep clients on a node that cannot serve).
 */
export async function anyPeerReady(
  addresses: readonly string[],
  timeoutMs = PEER_PROBE_TIMEOUT_MS,
): Promise<boolean | undefined> {
  if (addresses.length === 0) return false;
  const answers = await Promise.all(
    addresses.map(async (address) => {
      try {
        const res = await fetch(new URL("/readyz", address), { signal: AbortSignal.timeout(timeoutMs) });
        await res.body?.cancel();
        return res.status === 200;
      } catch {
        return undefined; // unreachable from here says nothing about the peer
      }
    }),
  );
  if (answers.includes(true)) return true;
  return answers.includes(undefined) ? undefined : false;
}

/**
 * The other nodes' addresses as last read from the registry while it answered: the peers a
 * self-drain asks. Nodes started together may miss each other in their first read, so a node
 * reads the view again a second after it starts (see `HubcastNode`).
 */
export class PeerView {
  private addresses: readonly string[] = [];

  update(addresses: readonly string[]): void {
    this.addresses = addresses;
  }

  get size(): number {
    return this.addresses.length;
  }

  /** {@link anyPeerReady} over the known peers. */
  anyReady(timeoutMs = PEER_PROBE_TIMEOUT_MS): Promise<boolean | undefined> {
    return anyPeerReady(this.addresses, timeoutMs);
  }
}
