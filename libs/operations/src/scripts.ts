/**
 * Lua scripts: each runs atomically in Redis, so a record, its indexes and the published update
 * never disagree, whatever crashes or races happen around them.
 */

/**
 * Creates an operation unless its request id is taken.
 * KEYS: rid, record, index-all, index-PENDING.
 * ARGV: name, request fingerprint, op JSON, request JSON, created ms, index member, retention ms,
 *       lex bound of members past retention.
 * Returns {1, name} when created, {0, existing name} when the request id was already used.
 */
export const CREATE = `
local existing = redis.call('GET', KEYS[1])
if existing then return {0, existing} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[7])
redis.call('HSET', KEYS[2], 'v', 1, 's', 1, 'p', 0, 'op', ARGV[3], 'rh', ARGV[2], 'rq', ARGV[4], 'ct', ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[7])
for i = 3, 4 do
  redis.call('ZADD', KEYS[i], 0, ARGV[6])
  redis.call('ZREMRANGEBYLEX', KEYS[i], ARGV[8], '+')
  redis.call('PEXPIRE', KEYS[i], ARGV[7])
end
return {1, ARGV[1]}
`;

/**
 * Writes a new version of an operation and publishes it, if and only if it is a real step
 * forward: DONE is final, status never goes back, progress never decreases, and an identical
 * state makes no new version. Two workers racing on one operation therefore cannot make a
 * watcher see anything but strictly increasing versions.
 * KEYS: record, index-PENDING, index-RUNNING, index-DONE.
 * ARGV: status (1-3), progress, op JSON (without version), retention ms, channel, index member,
 *       publish command (PUBLISH, or SPUBLISH on a cluster: the channel shares the record's slot).
 * Publishes `<Redis time in ms> <Operation JSON with version>`, so subscribers can measure
 * publish → deliver latency.
 * Returns the new version, 0 when nothing changed, -1 when there is no such record.
 */
export const UPDATE = `
local cur = redis.call('HMGET', KEYS[1], 'v', 's', 'p', 'op')
if not cur[1] then return -1 end
local v, s, p = tonumber(cur[1]), tonumber(cur[2]), tonumber(cur[3])
local ns, np = tonumber(ARGV[1]), tonumber(ARGV[2])
if s == 3 or ns < s or np < p or cur[4] == ARGV[3] then return 0 end
v = v + 1
redis.call('HSET', KEYS[1], 'v', v, 's', ns, 'p', np, 'op', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if ns ~= s then
  redis.call('ZREM', KEYS[1 + s], ARGV[6])
  redis.call('ZADD', KEYS[1 + ns], 0, ARGV[6])
  redis.call('PEXPIRE', KEYS[1 + ns], ARGV[4])
end
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call(ARGV[7], ARGV[5], ms .. ' {"version":' .. v .. ',' .. string.sub(ARGV[3], 2))
return v
`;
