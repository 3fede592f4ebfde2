--[[
  Releases a lock only if this holder still holds it: a holder whose lock expired and was taken
  by another must not release the other's.

    Input:
      KEYS[1]   lockKey  the lock: a string holding its holder's token

      ARGV[1]   token    this holder's token

    Output:
      1  released
      0  not this holder's lock (any more)
]]
local lockKey = KEYS[1]

local token = ARGV[1]

if redis.call('GET', lockKey) == token then return redis.call('DEL', lockKey) end
return 0
