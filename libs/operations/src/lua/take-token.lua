--[[
  Takes up to `want` tokens from a bucket, refilled continuously at `refillPerMs` up to
  `capacity`, on Redis's own clock so that every process draws from the same bucket and none
  needs to agree on time. It grants what the bucket holds, from one token to `want`, or none,
  once the tokens a caller gives back (taken earlier and not used) are in the bucket again.

    Input:
      KEYS[1]   bucketKey    P:{ratelimit:PRINCIPAL}, the bucket: hash of tokens and ts

      ARGV[1]   capacity     the most tokens the bucket holds (the burst)
      ARGV[2]   refillPerMs  tokens added per ms
      ARGV[3]   ttlMs        how long an untouched bucket lives: long enough to refill whole
      ARGV[4]   want         the most tokens to take, at least 1
      ARGV[5]   giveBack     tokens an earlier call took and did not use, returned first

    Output:
      {granted, 0}   1 to `want` tokens were taken
      {0, waitMs}    none: the ms until one is available
]]
local bucketKey = KEYS[1]

local capacity = ARGV[1]
local refillPerMs = ARGV[2]
local ttlMs = ARGV[3]
local want = ARGV[4]
local giveBack = ARGV[5]
capacity = tonumber(capacity)
refillPerMs = tonumber(refillPerMs)
want = tonumber(want)
giveBack = tonumber(giveBack)

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local bucket = redis.call('HMGET', bucketKey, 'tokens', 'ts')
local tokens = tonumber(bucket[1]) or capacity
local ts = tonumber(bucket[2]) or now
tokens = math.min(capacity, tokens + giveBack + math.max(0, now - ts) * refillPerMs)
local granted, wait = 0, 0
if tokens >= 1 then
  granted = math.min(want, math.floor(tokens))
  tokens = tokens - granted
else
  wait = math.ceil((1 - tokens) / refillPerMs)
end
redis.call('HSET', bucketKey, 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', bucketKey, ttlMs)
return {granted, wait}
