import { createHash } from "node:crypto";

/** Sends one command to Redis, routed by `key` on a cluster; bulk strings come back as Buffers. */
export interface RedisCommander {
  send(key: string | undefined, args: readonly (string | Buffer)[]): Promise<unknown>;
}

/** A Lua script run by EVALSHA, loaded with EVAL the first time a server does not know it. */
export class Script {
  readonly sha: string;

  constructor(
    readonly name: string,
    readonly source: string,
  ) {
    this.sha = createHash("sha1").update(source).digest("hex");
  }

  /** Runs the script; on a cluster it goes to the shard of `route`, by default its first key. */
  async run(
    redis: RedisCommander,
    keys: readonly string[],
    args: readonly (string | Buffer)[],
    route: string | undefined = keys[0],
  ): Promise<unknown> {
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return await redis.send(route, ["EVALSHA", this.sha, ...tail]);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith("NOSCRIPT")) throw err;
      return redis.send(route, ["EVAL", this.source, ...tail]);
    }
  }
}

/** The error a publish script answers when it ran after its deadline (nothing was written). */
export const EXPIRED_REPLY = "HUBCAST_EXPIRED";

/**
 * Refuses a publish whose deadline (ARGV[n], ms since the epoch; "" or absent for none) has passed by
 * the Redis server's clock: the command may have waited in a socket or a frozen client, and
 * its caller has given up on it.
 */
const REFUSE_EXPIRED = (n: number): string => `local deadline = tonumber(ARGV[${n}])
if deadline then
  local t = redis.call('time')
  local late = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - deadline
  if late > 0 then return redis.error_reply('${EXPIRED_REPLY} the publish reached redis ' .. late .. ' ms after its deadline') end
end`;

/**
 * Appends to a channel's stream and publishes, atomically, so offsets are gap-free and every
 * node sees them in order. A position lost from Redis (never written, expired, evicted)
 * starts a new epoch and drops any stream left behind. With an idempotency key (KEYS[3]) a
 * key seen within its window returns the first position and writes nothing; a new key is
 * recorded with the position, in the same script, so a retry cannot slip between them.
 * KEYS: stream, meta, [idempotency key]. ARGV: pubsub channel, data, info JSON or "", size,
 * ttlMs, metaTtlMs, epoch candidate, "publish" or "spublish", deadline or "", idempotency
 * window ms. Returns {offset, epoch}, or an error reply starting with EXPIRED_REPLY.
 */
export const PUBLISH = new Script(
  "publish",
  `
${REFUSE_EXPIRED(9)}
if KEYS[3] then
  local seen = redis.call('get', KEYS[3])
  if seen then
    local cut = string.find(seen, ':', 1, true)
    return {tonumber(string.sub(seen, 1, cut - 1)), string.sub(seen, cut + 1)}
  end
end
local epoch = redis.call('hget', KEYS[2], 'e')
if not epoch then
  epoch = ARGV[7]
  redis.call('del', KEYS[1])
  redis.call('hset', KEYS[2], 'e', epoch)
end
local offset = redis.call('hincrby', KEYS[2], 'o', 1)
redis.call('xadd', KEYS[1], 'MAXLEN', ARGV[4], offset .. '-0', 'd', ARGV[2], 'i', ARGV[3])
redis.call('pexpire', KEYS[1], ARGV[5])
redis.call('pexpire', KEYS[2], ARGV[6])
if KEYS[3] then redis.call('set', KEYS[3], offset .. ':' .. epoch, 'PX', ARGV[10]) end
redis.call(ARGV[8], ARGV[1], 'p' .. offset .. '\\n' .. epoch .. '\\n' .. ARGV[3] .. '\\n' .. ARGV[2])
return {offset, epoch}
`,
);

/**
 * A publish without history that honours a deadline and an idempotency key (KEYS[1]); plain
 * PUBLISH cannot. KEYS: [idempotency key]. ARGV: pubsub channel, message, "publish" or
 * "spublish", deadline or "", idempotency window ms. Returns 1 when published, 0 for a
 * repeated key, or an error reply starting with EXPIRED_REPLY.
 */
export const PUBLISH_PLAIN = new Script(
  "publish-plain",
  `
${REFUSE_EXPIRED(4)}
if KEYS[1] and not redis.call('set', KEYS[1], '1', 'NX', 'PX', ARGV[5]) then return 0 end
redis.call(ARGV[3], ARGV[1], ARGV[2])
return 1
`,
);

/**
 * Reads a channel's position and publications. A channel without a position gets one (offset
 * 0, new epoch) kept for metaTtlMs, so a subscriber's position stays meaningful.
 * KEYS: stream, meta. ARGV: epoch candidate, metaTtlMs, since epoch or "", since offset,
 * limit, "1" for newest first. Returns {epoch, offset, entries}.
 */
export const READ_HISTORY = new Script(
  "read-history",
  `
local meta = redis.call('hmget', KEYS[2], 'e', 'o')
local epoch = meta[1]
local offset = tonumber(meta[2]) or 0
if not epoch then
  epoch = ARGV[1]
  offset = 0
  redis.call('del', KEYS[1])
  redis.call('hset', KEYS[2], 'e', epoch, 'o', 0)
  redis.call('pexpire', KEYS[2], ARGV[2])
end
local limit = tonumber(ARGV[5])
local entries = {}
if limit > 0 then
  local from = '-'
  if ARGV[3] == epoch then from = '(' .. ARGV[4] .. '-0' end
  if ARGV[6] == '1' then
    entries = redis.call('xrevrange', KEYS[1], '+', from, 'COUNT', limit)
  else
    entries = redis.call('xrange', KEYS[1], from, '+', 'COUNT', limit)
  end
end
return {epoch, offset, entries}
`,
);

/** Server time in ms, for expiry scores that every node agrees on. */
const NOW = `local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** Drops entries whose expiry score has passed from a hash + sorted-set pair (KEYS[1] hash, KEYS[2] zset). */
const DROP_EXPIRED = `local stale = redis.call('zrangebyscore', KEYS[2], '-inf', now)
for i = 1, #stale, 1000 do
  redis.call('hdel', KEYS[1], unpack(stale, i, math.min(i + 999, #stale)))
end
if #stale > 0 then redis.call('zremrangebyscore', KEYS[2], '-inf', now) end`;

/** Adds or refreshes an entry. KEYS: hash, zset. ARGV: id, value, ttlMs. */
export const EXPIRING_SET_ADD = new Script(
  "expiring-set-add",
  `${NOW}
redis.call('zadd', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
redis.call('hset', KEYS[1], ARGV[1], ARGV[2])
redis.call('pexpire', KEYS[1], ARGV[3])
redis.call('pexpire', KEYS[2], ARGV[3])
return 1`,
);

/** Removes an entry. KEYS: hash, zset. ARGV: id. */
export const EXPIRING_SET_REMOVE = new Script(
  "expiring-set-remove",
  `redis.call('zrem', KEYS[2], ARGV[1])
redis.call('hdel', KEYS[1], ARGV[1])
return 1`,
);

/** Live entries' values. KEYS: hash, zset. */
export const EXPIRING_SET_VALUES = new Script(
  "expiring-set-values",
  `${NOW}
${DROP_EXPIRED}
return redis.call('hvals', KEYS[1])`,
);
