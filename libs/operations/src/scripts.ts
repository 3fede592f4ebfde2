/**
 * Lua scripts: each runs atomically in Redis, so a record, its lifecycle, its indexes and the
 * published update never disagree, whatever crashes or races happen around them.
 */

/**
 * Creates an operation unless its request id is taken.
 * KEYS: rid, record, index-all, index-PENDING.
 * ARGV: name, request fingerprint, op JSON, request JSON, created ms, index member, retention ms,
 *       lex bound of members past retention, lifecycle JSON.
 * Returns {1, name} when created, {0, existing name} when the request id was already used.
 */
export const CREATE = `
local existing = redis.call('GET', KEYS[1])
if existing then return {0, existing} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[7])
redis.call('HSET', KEYS[2], 'v', 1, 's', 1, 'p', 0, 'op', ARGV[3], 'rh', ARGV[2], 'rq', ARGV[4], 'ct', ARGV[5], 'ls', 0, 'lc', ARGV[9])
redis.call('PEXPIRE', KEYS[2], ARGV[7])
for i = 3, 4 do
  redis.call('ZADD', KEYS[i], 0, ARGV[6])
  redis.call('ZREMRANGEBYLEX', KEYS[i], ARGV[8], '+')
  redis.call('PEXPIRE', KEYS[i], ARGV[7])
end
return {1, ARGV[1]}
`;

/**
 * Writes a lifecycle step and/or a new version of an operation, publishing the version.
 *
 * The lifecycle part is a compare-and-set: with an expected sequence number, nothing is written
 * unless the record's lifecycle is still at that number. That makes "dispatch an insert" and
 * "cancel" atomic against each other: whichever commits first wins, the other sees a conflict and
 * decides again on what it now reads.
 *
 * The version part is written if and only if it is a real step forward: DONE is final, status
 * never goes back, progress never decreases, and an identical state makes no new version. Two
 * writers racing on one operation therefore cannot make a watcher see anything but strictly
 * increasing versions. At DONE the stored job payload (`rq`, which may carry a sealed key) is
 * dropped: nothing will run the job again.
 *
 * KEYS: record, index-PENDING, index-RUNNING, index-DONE.
 * ARGV: expected lifecycle seq ('' = no check), lifecycle JSON ('' = unchanged), status (1-3, or
 *       '' for no version), progress, op JSON (without version), retention ms, channel, index
 *       member, publish command (PUBLISH, or SPUBLISH on a cluster: the channel shares the
 *       record's slot), lex bound of index members past retention (trimmed from the index the
 *       operation moves into).
 * Publishes `<Redis time in ms> <Operation JSON with version>`, so subscribers can measure
 * publish → deliver latency.
 * Returns {-1, 0, 0} when there is no such record, {0, seq, 0} on a lifecycle conflict, else
 * {1, lifecycle seq, new version or 0 when no version was written}.
 */
export const WRITE = `
local cur = redis.call('HMGET', KEYS[1], 'v', 's', 'p', 'op', 'ls')
if not cur[1] then return {-1, 0, 0} end
local seq = tonumber(cur[5] or '0')
if ARGV[1] ~= '' and seq ~= tonumber(ARGV[1]) then return {0, seq, 0} end
local fields = {}
if ARGV[2] ~= '' then
  seq = seq + 1
  fields = {'ls', seq, 'lc', ARGV[2]}
end
local v, s, ns = 0, tonumber(cur[2]), 0
if ARGV[3] ~= '' then
  local p = tonumber(cur[3])
  local np = tonumber(ARGV[4])
  ns = tonumber(ARGV[3])
  if not (s == 3 or ns < s or np < p or cur[4] == ARGV[5]) then
    v = tonumber(cur[1]) + 1
    for _, x in ipairs({'v', v, 's', ns, 'p', np, 'op', ARGV[5]}) do fields[#fields + 1] = x end
  end
end
if #fields == 0 then return {1, seq, 0} end
-- One HSET and one PEXPIRE for the lifecycle step and the version together.
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], ARGV[6])
if v == 0 then return {1, seq, 0} end
if ns == 3 then redis.call('HDEL', KEYS[1], 'rq') end
if ns ~= s then
  redis.call('ZREM', KEYS[1 + s], ARGV[8])
  redis.call('ZADD', KEYS[1 + ns], 0, ARGV[8])
  redis.call('ZREMRANGEBYLEX', KEYS[1 + ns], ARGV[10], '+')
  redis.call('PEXPIRE', KEYS[1 + ns], ARGV[6])
end
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call(ARGV[9], ARGV[7], ms .. ' {"version":' .. v .. ',' .. string.sub(ARGV[5], 2))
return {1, seq, v}
`;
