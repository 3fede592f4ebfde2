--[[
  Empties a token bucket (take-token.lua's), on Redis's own clock: the caller was refused for a
  quota the bucket stands for, so every taker waits for the next refill instead of trying again.

    Input:
      KEYS[1]   bucketKey    the bucket: hash of tokens and ts

      ARGV[1]   ttlMs        how long an untouched bucket lives

    Output:
      1
]]
local bucketKey = KEYS[1]

local ttlMs = ARGV[1]

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('HSET', bucketKey, 'tokens', '0', 'ts', now)
redis.call('PEXPIRE', bucketKey, ttlMs)
return 1
