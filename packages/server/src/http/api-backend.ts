import type { ClientInfo, JsonValue, StreamPosition } from "@hubcast/protocol";
import { encodeJsonData, jsonValueWithinDepth, tooDeepProblem } from "@hubcast/protocol";
import type { ResolvedChannelOptions } from "../channels.js";
import { PublishFailure, PublishFailureKind } from "../publish-failure.js";
import { ApiErrorCode, apiErrorCatalogue, codeForStatus } from "./api-errors.js";
import type { NodeContext } from "../context.js";
import { readablePublications } from "../history/readable.js";
import type { ControlPlane } from "../control.js";
import type { NodeInfo } from "../registry/registry.js";

/**
 * A server API request that cannot be served; `status` is the HTTP status to answer with and
 * `code` the catalogue code the body carries (by default the one the status stands for).
 * `logged`: the cause has been logged already, so the handler need not log it again.
 */
export class ApiError extends Error {
  override readonly name = "ApiError";
  readonly code: ApiErrorCode;
  readonly logged: boolean;
  constructor(
    readonly status: number,
    message: string,
    options: { code?: ApiErrorCode; cause?: unknown; logged?: boolean } = {},
  ) {
    super(message, { cause: options.cause });
    this.code = options.code ?? codeForStatus(status);
    this.logged = options.logged ?? false;
  }
}

/** The API code for each way a publish fails (the Publisher has logged it, rate-limited). */
const API_CODES: Readonly<Record<PublishFailureKind, ApiErrorCode>> = {
  [PublishFailureKind.outcomeUnknown]: ApiErrorCode.outcomeUnknown,
  [PublishFailureKind.expired]: ApiErrorCode.publishExpired,
  [PublishFailureKind.failed]: ApiErrorCode.internal,
};

/** A publication as the server API returns it. */
export interface ApiPublication {
  offset?: number;
  data: JsonValue;
  info?: ClientInfo;
}

/**
 * What the server API does, apart from HTTP: publish as the server (namespace permissions for
 * clients do not apply), read history and presence, and ask or tell the whole cluster.
 */
export class ApiBackend {
  constructor(
    private readonly ctx: NodeContext,
    private readonly control: ControlPlane,
  ) {}

  /**
   * Checks a JSON value parsed from a request against the node's data limits (`maxDataDepth`)
   * and encodes it once for {@link publish}; throws an {@link ApiError} 400 naming the limit.
   */
  encodeData(data: JsonValue): Uint8Array {
    const { maxDataDepth } = this.ctx.options;
    if (!jsonValueWithinDepth(data, maxDataDepth))
      throw new ApiError(400, `field "data" ${tooDeepProblem(maxDataDepth)}`);
    return encodeJsonData(data);
  }

  /**
   * Publishes data from {@link encodeData} to `channel`; resolves to its position when the
   * channel keeps history. A key used in the channel within the idempotency window is not
   * published again and resolves to the first position. Fails with an {@link ApiError}: 503
   * `outcome_unknown` (maybe made, never later: retry with the same key), 500
   * `publish_expired` or `internal` (not made: retry).
   */
  async publish(channel: string, data: Uint8Array, idempotencyKey?: string): Promise<StreamPosition | undefined> {
    const options = this.channelOptions(channel);
    try {
      return await this.ctx.publisher.publish("api", { channel, data }, options.history, idempotencyKey);
    } catch (err) {
      if (!(err instanceof PublishFailure)) throw err;
      const code = API_CODES[err.kind];
      throw new ApiError(apiErrorCatalogue[code].status, err.message, { code, cause: err, logged: true });
    }
  }

  /**
   * Reads history: publications (oldest first unless `reverse`) and the channel's position.
   * Stored publications that cannot be read are left out (see `readablePublications`).
   */
  async history(
    channel: string,
    query: { limit?: number; since?: StreamPosition; reverse?: boolean },
  ): Promise<{ publications: ApiPublication[]; position: StreamPosition }> {
    const options = this.channelOptions(channel);
    if (options.history.size === 0)
      throw new ApiError(400, `history is off for "${channel}" (its namespace has historySize 0)`);
    const limit = Math.min(query.limit ?? options.history.size, options.history.size);
    const page = await this.ctx.engine.history.read(
      channel,
      { since: query.since, limit, reverse: query.reverse },
      options.history,
    );
    return { publications: readablePublications(channel, page, this.ctx), position: page.position };
  }

  /** What `channel`'s namespace keeps: presence or not, and how many publications of history (0: none). Throws an {@link ApiError} 400 for a channel that cannot be used. */
  features(channel: string): { presence: boolean; historySize: number } {
    const options = this.channelOptions(channel);
    return { presence: options.presence, historySize: options.history.size };
  }

  async presence(
    channel: string,
  ): Promise<{ clients: Record<string, ClientInfo>; numClients: number; numUsers: number }> {
    const options = this.channelOptions(channel);
    if (!options.presence) throw new ApiError(400, `presence is off for "${channel}"`);
    const clients = await this.ctx.engine.presence.get(channel);
    const users = new Set(Object.values(clients).map((c) => c.user));
    return { clients, numClients: Object.keys(clients).length, numUsers: users.size };
  }

  /** Channels with subscribers on any node, with their subscriber counts summed over nodes. */
  async channels(): Promise<{ channels: { channel: string; subscribers: number }[]; nodes: number }> {
    const answers = await this.control.survey("channels");
    const totals = new Map<string, number>();
    for (const answer of answers.values()) {
      for (const [channel, count] of Object.entries(answer as Record<string, number>))
        totals.set(channel, (totals.get(channel) ?? 0) + count);
    }
    const channels = [...totals]
      .map(([channel, subscribers]) => ({ channel, subscribers }))
      .sort((a, b) => a.channel.localeCompare(b.channel));
    return { channels, nodes: answers.size };
  }

  nodes(): Promise<NodeInfo[]> {
    return this.ctx.engine.registry.list();
  }

  /** Disconnects every connection of `user` on every node (close 3501: do not reconnect). */
  disconnectUser(user: string): Promise<void> {
    return this.control.disconnectUser(user);
  }

  private channelOptions(channel: string): ResolvedChannelOptions {
    const lookup = this.ctx.rules.lookup(channel);
    if (!lookup.ok) throw new ApiError(400, `channel "${channel}": ${lookup.reason}`);
    return lookup.options;
  }
}
