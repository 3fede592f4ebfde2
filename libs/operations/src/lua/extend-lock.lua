--[[
  Extends a lock only if this holder still holds it.

    Input:
      KEYS[1]   lockKey  the lock: a string holding its holder's token

      ARGV[1]   token    this holder's token
      ARGV[2]   ttlMs    the lock's new lifetime, ms

    Output:
      1  extended
      0  not this holder's lock (any more)
]]
local lockKey = KEYS[1]

local token = ARGV[1]
local ttlMs = ARGV[2]

if redis.call('GET', lockKey) == token then return redis.call('PEXPIRE', lockKey, ttlMs) end
return 0
