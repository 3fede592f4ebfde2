--[[
  Creates an operation unless its project already used the request id: sets the request id,
  writes the record (version 1, PENDING, lifecycle sequence 0) and adds the operation to the
  index of all operations and to the PENDING index, trimming from both (on one create in
  sixteen) the members created before the retention. The record and the request id expire
  `retentionMs` after this write, and so does the PENDING index; the index of all operations is
  given `allIndexTtlMs` when the caller asks (it renews that index's expiry once per period, not
  on every create: operation-store.ts).

    Input:
      KEYS[1]   requestIdKey        P:{project}:rid:ID, the name a request id maps to
      KEYS[2]   recordKey           P:{project}:op:NAME, the operation record
      KEYS[3]   allIndexKey         P:{project}:ops
      KEYS[4]   pendingIndexKey     P:{project}:ops:PENDING

      ARGV[1]   name                the operation's name
      ARGV[2]   fingerprint         a digest of the request, compared when the request id repeats
      ARGV[3]   operation           the Operation JSON, without its version
      ARGV[4]   request             the request JSON, as stored (libs/queue's StoredRequest)
      ARGV[5]   createdMs           when the operation was created, ms since the epoch
      ARGV[6]   indexMember         the operation's index member, INVERTED_MS:NAME
      ARGV[7]   retentionMs         how long the keys live after this write, ms
      ARGV[8]   expiredMembersFrom  lex bound: the members past the retention sort from here on
      ARGV[9]   lifecycle           the lifecycle state, as libs/lifecycle encodes it
      ARGV[10]  notification        the request's webhook JSON, '' for none
      ARGV[11]  allIndexTtlMs       the index of all operations' new time to live, ms; '' to leave it

    Record fields (RECORD_FIELDS in keys.ts): writes all of them, v s p op rh rq ct ls lc, and
    nt when the request asked for a webhook.

    Output:
      {1, name}           created
      {0, existing name}  the request id was taken; nothing was written
]]
local requestIdKey = KEYS[1]
local recordKey = KEYS[2]
local allIndexKey = KEYS[3]
local pendingIndexKey = KEYS[4]

local name = ARGV[1]
local fingerprint = ARGV[2]
local operation = ARGV[3]
local request = ARGV[4]
local createdMs = ARGV[5]
local indexMember = ARGV[6]
local retentionMs = ARGV[7]
local expiredMembersFrom = ARGV[8]
local lifecycle = ARGV[9]
local notification = ARGV[10]
local allIndexTtlMs = ARGV[11]

-- One command when the request id is new (the common case): set it only if it is not taken.
if not redis.call('SET', requestIdKey, name, 'NX', 'PX', retentionMs) then
  return {0, redis.call('GET', requestIdKey)}
end
local fields = {'v', 1, 's', 1, 'p', 0, 'op', operation, 'rh', fingerprint, 'rq', request,
  'ct', createdMs, 'ls', 0, 'lc', lifecycle}
if notification ~= '' then
  fields[#fields + 1] = 'nt'
  fields[#fields + 1] = notification
end
redis.call('HSET', recordKey, unpack(fields))
redis.call('PEXPIRE', recordKey, retentionMs)
-- Members past the retention are trimmed on one create in sixteen (the name's last hex digit is
-- random): an index stays bounded, and ListOperations already skips a member whose record is gone.
local trims = string.sub(name, -1) == '0'
for indexKey, ttl in pairs({[allIndexKey] = allIndexTtlMs, [pendingIndexKey] = retentionMs}) do
  redis.call('ZADD', indexKey, 0, indexMember)
  if trims then redis.call('ZREMRANGEBYLEX', indexKey, expiredMembersFrom, '+') end
  if ttl ~= '' then redis.call('PEXPIRE', indexKey, ttl) end
end
return {1, name}
