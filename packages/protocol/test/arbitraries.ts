import fc from "fast-check";
import type { ClientInfo, Command, JsonValue, Publication, Push, Reply, StreamPosition } from "../src/frames.js";
import { MAX_EPOCH_LENGTH } from "../src/validate.js";

/**
 * fast-check arbitraries of valid protocol v1 frames: every value here is one both encodings
 * must carry unchanged (a command the server accepts, a reply or push the server may send).
 */

/** Unicode text (whole graphemes, so always well-formed UTF-16) of at most `max` code units. */
export const text = (max = 24, min = 0): fc.Arbitrary<string> =>
  fc.string({ unit: "grapheme", minLength: min, maxLength: max }).filter((s) => s.length <= max);

/** Any JSON value, as it comes back from JSON text (`-0` becomes `0`). */
export const json: fc.Arbitrary<JsonValue> = fc
  .jsonValue({ maxDepth: 3 })
  .map((v) => JSON.parse(JSON.stringify(v)) as JsonValue);

const safeCount = fc.maxSafeNat();
const uint32 = fc.nat({ max: 2 ** 32 - 1 });
const channel = text(32, 1);

export const position: fc.Arbitrary<StreamPosition> = fc.record({ offset: safeCount, epoch: text(MAX_EPOCH_LENGTH) });

export const clientInfo: fc.Arbitrary<ClientInfo> = fc.record(
  { client: text(), user: text(), info: json },
  { requiredKeys: ["client", "user"] },
);

export const publication: fc.Arbitrary<Publication> = fc.record(
  { data: json, offset: safeCount, info: clientInfo },
  { requiredKeys: ["data"] },
);

const command = <M extends Command["method"]>(
  method: M,
  request: fc.Arbitrary<Extract<Command, { method: M }>["request"]>,
): fc.Arbitrary<Command> =>
  fc
    .record({ id: fc.integer({ min: 1, max: 2 ** 32 - 1 }), request })
    .map(({ id, request: r }) => ({ id, method, request: r }) as Command);

/** Commands the server accepts, in the shape `parseClientFrame` returns them. */
export const commands: fc.Arbitrary<Command> = fc.oneof(
  command("connect", fc.record({ token: text(), name: text(), version: text() }, { requiredKeys: [] })),
  command(
    "subscribe",
    fc.record(
      { channel, since: position, token: text(), delta: fc.constant("fossil" as const) },
      { requiredKeys: ["channel"] },
    ),
  ),
  command("unsubscribe", fc.record({ channel })),
  command(
    "publish",
    fc.record(
      { channel, data: json, idempotencyKey: fc.string({ minLength: 1, maxLength: 64 }) },
      { requiredKeys: ["channel", "data"] },
    ),
  ),
  command("presence", fc.record({ channel })),
  command("presence_stats", fc.record({ channel })),
  command(
    "history",
    fc.record({ channel, limit: safeCount, since: position, reverse: fc.boolean() }, { requiredKeys: ["channel"] }),
  ),
  command("refresh", fc.record({ token: text(64, 1) })),
);

const id = fc.integer({ min: 1, max: 2 ** 32 - 1 });
const reply = <R extends Reply>(result: fc.Arbitrary<Omit<R, "id">>): fc.Arbitrary<Reply> =>
  fc.tuple(id, result).map(([n, r]) => ({ id: n, ...r }) as unknown as Reply);

const subscribeResult = fc
  .tuple(
    fc.record({ recoverable: fc.boolean(), position, delta: fc.boolean() }, { requiredKeys: ["recoverable"] }),
    fc.option(fc.record({ recovered: fc.boolean(), publications: fc.array(publication, { maxLength: 3 }) }), {
      nil: undefined,
    }),
  )
  .map(([base, recovery]) => ({ ...base, ...recovery }));

/** Replies the server may send. */
export const replies: fc.Arbitrary<Reply> = fc.oneof(
  reply(
    fc.record({
      error: fc.record(
        { code: uint32, message: text(), temporary: fc.boolean() },
        { requiredKeys: ["code", "message"] },
      ),
    }),
  ),
  reply(
    fc.record({
      method: fc.constant("connect" as const),
      result: fc.record(
        { client: text(), version: uint32, pingIntervalMs: safeCount, maxMessageBytes: uint32, expiresAt: safeCount },
        { requiredKeys: ["client", "version", "pingIntervalMs", "maxMessageBytes"] },
      ),
    }),
  ),
  reply(fc.record({ method: fc.constant("subscribe" as const), result: subscribeResult })),
  reply(fc.record({ method: fc.constant("unsubscribe" as const), result: fc.constant({}) })),
  reply(fc.record({ method: fc.constant("publish" as const), result: fc.record({ position }, { requiredKeys: [] }) })),
  reply(
    fc.record({
      method: fc.constant("presence" as const),
      result: fc.record({ clients: fc.dictionary(text(), clientInfo, { maxKeys: 3, noNullPrototype: true }) }),
    }),
  ),
  reply(
    fc.record({
      method: fc.constant("presence_stats" as const),
      result: fc.record({ numClients: uint32, numUsers: uint32 }),
    }),
  ),
  reply(
    fc.record({
      method: fc.constant("history" as const),
      result: fc.record({ publications: fc.array(publication, { maxLength: 3 }), position }),
    }),
  ),
  reply(
    fc.record({
      method: fc.constant("refresh" as const),
      result: fc.record({ expiresAt: safeCount }, { requiredKeys: [] }),
    }),
  ),
);

/** Pushes the server may send. */
export const pushes: fc.Arbitrary<Push> = fc.oneof(
  fc
    .record({ channel, data: json, offset: safeCount, info: clientInfo }, { requiredKeys: ["channel", "data"] })
    .map((body) => ({ type: "publication" as const, body })),
  // A delta: any bytes, which the JSON encoding carries one character per byte.
  fc
    .record(
      { channel, offset: safeCount, info: clientInfo, rawData: fc.uint8Array({ maxLength: 64 }) },
      {
        requiredKeys: ["channel", "rawData"],
      },
    )
    .map((body) => ({ type: "publication" as const, body: { ...body, data: null, delta: true } })),
  fc.record({
    type: fc.constantFrom("join" as const, "leave" as const),
    body: fc.record({ channel, info: clientInfo }),
  }),
  fc.record({
    type: fc.constant("members" as const),
    body: fc.oneof(
      fc.record({
        channel,
        leaves: fc.array(clientInfo, { maxLength: 3 }),
        joins: fc.array(clientInfo, { maxLength: 3 }),
      }),
      fc
        .record({ channel, summary: fc.record({ joins: uint32, leaves: uint32 }) })
        .map(({ channel: c, summary }) => ({ channel: c, leaves: [], joins: [], summary })),
    ),
  }),
  fc.record({
    type: fc.constant("unsubscribe" as const),
    body: fc.record({ channel, code: uint32, reason: text(), resubscribe: fc.boolean() }),
  }),
  fc.record({
    type: fc.constant("disconnect" as const),
    body: fc.record(
      { code: uint32, reason: text(), reconnect: fc.boolean(), retryAfterMs: safeCount },
      { requiredKeys: ["code", "reason", "reconnect"] },
    ),
  }),
  fc.constant({ type: "ping" as const, body: {} }),
);
