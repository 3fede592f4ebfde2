--[[
  Writes a lifecycle step and/or a new version of an operation, and publishes the version.

  The lifecycle part is a compare-and-set: with an expected sequence number, nothing is written
  unless the record's lifecycle is still at that number. That makes "dispatch an insert" and
  "cancel" atomic against each other: whichever commits first wins, the other sees a conflict and
  decides again on what it now reads.

  The version part is written if and only if it is a real step forward: DONE is final, status
  never goes back, progress never decreases, and an identical state makes no new version. Two
  writers racing on one operation therefore cannot make a watcher see anything but strictly
  increasing versions. A version that changes the status moves the operation between the status
  indexes, trimming from the one it enters the members created before the retention. Each new
  version pushes the one it replaces onto the record's history (`hs`, newline-separated JSON,
  oldest first), which keeps the newest `historyMax - 1` so that with the current version the
  record holds at most `historyMax`. At DONE the stored job payload (`rq`, which may carry a
  sealed key) is emptied: nothing will run the job again; what the caller asked for stays, as
  `rv`, without its sealed keys.

  Expiry: a DONE version, and any write more than `recordTtlSlackMs` after the operation was
  created, gives the record `retentionMs` again. An earlier write leaves it: the create gave it
  `retentionMs` less than that slack ago. The index a version enters is given `retentionMs`; at
  DONE, the DONE index and the index of all operations are given `doneIndexTtlMs`, and only when
  the caller asks (it renews an index's expiry once per period: operation-store.ts).

    Input:
      KEYS[1]   recordKey           P:{project}:op:NAME, the operation record
      KEYS[2]   pendingIndexKey     P:{project}:ops:PENDING
      KEYS[3]   runningIndexKey     P:{project}:ops:RUNNING
      KEYS[4]   doneIndexKey        P:{project}:ops:DONE
      KEYS[5]   allIndexKey         P:{project}:ops

      ARGV[1]   expectedSeq         the lifecycle sequence the step was decided on; '' for none
      ARGV[2]   lifecycle           the new lifecycle state, '' to leave it unchanged
      ARGV[3]   status              1 PENDING, 2 RUNNING, 3 DONE; '' to write no version
      ARGV[4]   progress            the version's progress, 0-100
      ARGV[5]   operation           the version's Operation JSON, without its version
      ARGV[6]   retentionMs         how long the keys live after this write, ms
      ARGV[7]   channel             where the version is published, named like the record key
      ARGV[8]   indexMember         the operation's index member, INVERTED_MS:NAME
      ARGV[9]   publishCommand      PUBLISH, or SPUBLISH on a cluster (same slot as the record)
      ARGV[10]  expiredMembersFrom  lex bound: the members past the retention sort from here on
      ARGV[11]  historyMax          how many versions the record keeps, the current one included
      ARGV[12]  publishedMs         the writer's clock, ms since the epoch, for the published message
      ARGV[13]  recordTtlSlackMs    how long after the create a write may leave the record's expiry
      ARGV[14]  doneIndexTtlMs      the new time to live of the DONE index and of the index of all
                                    operations when the version enters DONE, ms; '' to leave it

    Record fields (RECORD_FIELDS in keys.ts): reads v s p op ls hs hn rq ct; writes ls lc for a
    lifecycle step and v s p op hs hn for a version; at DONE writes rv and empties rq.

    Publishes:
      `<publishedMs> <Operation JSON with its version>` on the channel, so subscribers can
      measure publish → deliver latency (across hosts, as far as their clocks agree).

    Output:
      {-1, 0, 0}              there is no such record
      {0, seq, 0}             lifecycle conflict: the record's sequence number is seq
      {1, seq, version or 0, renewed}
                              written: the lifecycle sequence number, the new version or 0
                              when no version was written, and 1 when the DONE and all
                              indexes were given doneIndexTtlMs (0 or absent when not)
]]
local recordKey = KEYS[1]
local pendingIndexKey = KEYS[2]
local runningIndexKey = KEYS[3]
local doneIndexKey = KEYS[4]
local allIndexKey = KEYS[5]

local expectedSeq = ARGV[1]
local lifecycle = ARGV[2]
local status = ARGV[3]
local progress = ARGV[4]
local operation = ARGV[5]
local retentionMs = ARGV[6]
local channel = ARGV[7]
local indexMember = ARGV[8]
local publishCommand = ARGV[9]
local expiredMembersFrom = ARGV[10]
local historyMax = ARGV[11]
local publishedMs = ARGV[12]
local recordTtlSlackMs = ARGV[13]
local doneIndexTtlMs = ARGV[14]

-- The status indexes by status number.
local indexKeyOfStatus = {pendingIndexKey, runningIndexKey, doneIndexKey}

-- 1 once the DONE and all-operations indexes were given doneIndexTtlMs (the caller marks them).
local renewed = 0
local current = redis.call('HMGET', recordKey, 'v', 's', 'p', 'op', 'ls', 'hs', 'hn', 'rq', 'ct')
if not current[1] then return {-1, 0, 0} end
local seq = tonumber(current[5] or '0')
if expectedSeq ~= '' and seq ~= tonumber(expectedSeq) then return {0, seq, 0} end
local fields = {}
if lifecycle ~= '' then
  seq = seq + 1
  fields = {'ls', seq, 'lc', lifecycle}
end
local version, oldStatus, newStatus = 0, tonumber(current[2]), 0
if status ~= '' then
  local oldProgress = tonumber(current[3])
  local newProgress = tonumber(progress)
  newStatus = tonumber(status)
  if not (oldStatus == 3 or newStatus < oldStatus or newProgress < oldProgress
      or current[4] == operation) then
    version = tonumber(current[1]) + 1
    -- The version being replaced joins the history, which drops its oldest past historyMax - 1.
    local replaced = '{"version":' .. current[1] .. ',' .. string.sub(current[4], 2)
    local history, kept = current[6], tonumber(current[7] or '0')
    if history then history, kept = history .. '\n' .. replaced, kept + 1
    else history, kept = replaced, 1 end
    while kept > tonumber(historyMax) - 1 and kept > 0 do
      local cut = string.find(history, '\n', 1, true)
      history, kept = cut and string.sub(history, cut + 1) or '', kept - 1
    end
    for _, x in ipairs({'v', version, 's', newStatus, 'p', newProgress, 'op', operation,
        'hs', history, 'hn', kept}) do
      fields[#fields + 1] = x
    end
    -- What the caller asked for outlives the job payload, without the sealed keys; the payload
    -- is emptied in the same HSET (one command fewer than an HDEL).
    if newStatus == 3 and current[8] and current[8] ~= '' then
      local ok, stored = pcall(cjson.decode, current[8])
      if ok and type(stored) == 'table' then
        stored.sealed = nil
        fields[#fields + 1] = 'rv'
        fields[#fields + 1] = cjson.encode(stored)
      end
      fields[#fields + 1] = 'rq'
      fields[#fields + 1] = ''
    end
  end
end
if #fields == 0 then return {1, seq, 0} end
-- One HSET, and at most one PEXPIRE, for the lifecycle step and the version together.
redis.call('HSET', recordKey, unpack(fields))
if (version > 0 and newStatus == 3)
    or tonumber(publishedMs) - tonumber(current[9] or '0') >= tonumber(recordTtlSlackMs) then
  redis.call('PEXPIRE', recordKey, retentionMs)
end
if version == 0 then return {1, seq, 0} end
if newStatus ~= oldStatus then
  redis.call('ZREM', indexKeyOfStatus[oldStatus], indexMember)
  redis.call('ZADD', indexKeyOfStatus[newStatus], 0, indexMember)
  -- On one write in sixteen (the name's random last hex digit), as create-operation.lua trims.
  if string.sub(indexMember, -1) == '0' then
    redis.call('ZREMRANGEBYLEX', indexKeyOfStatus[newStatus], expiredMembersFrom, '+')
  end
  -- PENDING and RUNNING empty and come back often, so they are renewed on every entry; DONE,
  -- which stays, when the caller says it is due.
  if newStatus ~= 3 then
    redis.call('PEXPIRE', indexKeyOfStatus[newStatus], retentionMs)
  elseif doneIndexTtlMs ~= '' then
    -- DONE gives the record the retention again: both indexes that list it must outlive it.
    redis.call('PEXPIRE', doneIndexKey, doneIndexTtlMs)
    redis.call('PEXPIRE', allIndexKey, doneIndexTtlMs)
    renewed = 1
  end
end
redis.call(publishCommand, channel,
  publishedMs .. ' {"version":' .. version .. ',' .. string.sub(operation, 2))
return {1, seq, version, renewed}
