import type { RedisClusterClient, RedisConnection } from "@hubcast/emitter";
import { COMMAND_TIMEOUT_MS, RedisCommandTimeoutError } from "@hubcast/emitter";
import type { Logger } from "pino";
import { LinkPinger } from "../broker/link-liveness.js";

/** One command connection to ping: a name for logs (the master's address on a cluster) and its PING. */
export interface CommandLink {
  readonly name: string;
  ping(): Promise<unknown>;
}

/** The command links of a connection: the one connection, or on a cluster each master's that is up. */
export function commandLinks(commands: RedisConnection & { client: unknown }): () => CommandLink[] {
  if (!commands.cluster) {
    const link: CommandLink = { name: "redis", ping: () => commands.send(undefined, ["PING"]) };
    return () => [link];
  }
  const cluster = commands.client as RedisClusterClient;
  // A master's connection that is down is the cluster client's to reconnect (and readiness says
  // so already); a PING there would only fail. One that is up but silent is what this finds.
  return () =>
    cluster.masters.flatMap((master) => {
      const client = master.client;
      if (client === undefined || !client.isReady) return [];
      return [{ name: master.address, ping: () => client.sendCommand(["PING"]) }];
    });
}

/**
 * Sends a PING down every command connection each `intervalMs`, so a silent link turns
 * readiness off within the interval plus the command timeout even when no publish or announce
 * is due. On a Redis Cluster each master's connection is pinged on its own: a silent one keeps
 * the node unready however well the others answer. Logs and counts once per silent episode of
 * each link; a connection answers again by itself once the link carries packets (a Redis that
 * restarts resets it and the client reconnects).
 */
export class CommandLinkWatch {
  private readonly timer: NodeJS.Timeout;
  private readonly silent = new Set<string>();
  private readonly pinger: LinkPinger<string>;

  constructor(
    private readonly links: () => CommandLink[],
    intervalMs: number,
    private readonly logger: Logger,
    private readonly onDead: () => void,
  ) {
    this.pinger = new LinkPinger({
      timeoutMs: COMMAND_TIMEOUT_MS,
      what: "redis command PING",
      handlers: { onAnswer: (name) => this.answered(name), onSilent: (name) => this.unanswered(name) },
      isSilence: (err) => err instanceof RedisCommandTimeoutError,
    });
    this.timer = setInterval(() => this.tick(), intervalMs);
    this.timer.unref();
  }

  /** False while some command link's PING went unanswered, until that link answers again. */
  get answering(): boolean {
    return this.silent.size === 0;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    const links = this.links();
    // A link gone from the view (a master removed by a resharding) is no longer waited for.
    for (const name of this.silent) if (!links.some((link) => link.name === name)) this.silent.delete(name);
    for (const link of links) this.pinger.ping(link.name, () => link.ping());
  }

  private answered(name: string): void {
    if (this.silent.delete(name)) this.logger.warn({ node: name }, "redis command link answers again");
  }

  private unanswered(name: string): void {
    if (this.silent.has(name)) return;
    this.silent.add(name);
    this.logger.error(
      { node: name },
      "redis command link silent: PING unanswered within the command timeout; not ready",
    );
    this.onDead();
  }
}
