-- claim.lua: pending → running for up to ARGV[2] of the candidates, in order.
-- Candidates were peeked from the lanes without a lock; each is taken only
-- if it is still pending and its type is under its fleet-wide concurrency
-- limit, so concurrent claimers never take one job twice. A type at its
-- limit costs nothing more: the rest of its lane is skipped unread.
-- (Hot path: each job is read once and written once; the leases, the
-- lanes, the counters and the events are written once per call.)
-- KEYS[1] leases  KEYS[2] counts  KEYS[3] type running  KEYS[4] type limits
-- KEYS[3+2i] job hash of candidate i   KEYS[4+2i] the lane holding it
-- KEYS[4+2n+i] history of candidate i (n candidates)
-- ARGV[1] worker id  ARGV[2] max jobs  ARGV[3] lease ms  ARGV[4] events channel
-- ARGV[2+3i] candidate i id  ARGV[3+3i] run token for it  ARGV[4+3i] its lane's type
-- Returns {OK, now ms, id, row, id, row, ...}, for each job taken its id
-- and its hash as it was before the claim (HGETALL order): the caller
-- applies the claim's own writes to it (claimedJob in job.go), which
-- saves copying each row into a table and back.
local want = tonumber(ARGV[2])
local cands = (#ARGV - 4) / 3
local now = now_ms()
local now_s = int(now)
local out = {OK, now_s}
local n = 0
local deadline = int(now + tonumber(ARGV[3]))
local limits, running, taken = {}, {}, {} -- per type, read at most once
local leases, removed, events = {}, {}, {}
for i = 1, cands do
  if n >= want then break end
  local jk, pk = KEYS[3 + 2 * i], KEYS[4 + 2 * i]
  local id, token, ltyp = ARGV[2 + 3 * i], ARGV[3 + 3 * i], ARGV[4 + 3 * i]
  if limits[ltyp] == nil then
    limits[ltyp] = tonumber(redis.call('HGET', KEYS[4], ltyp) or '-1')
    running[ltyp] = tonumber(redis.call('HGET', KEYS[3], ltyp) or '0')
  end
  if (limits[ltyp] < 0 or running[ltyp] < limits[ltyp]) and redis.call('ZSCORE', pk, id) then
    local row = redis.call('HGETALL', jk)
    local status, typ, queue, version, attempts, dirty
    for k = 1, #row, 2 do
      local f = row[k]
      if f == 'status' then status = row[k + 1]
      elseif f == 'type' then typ = row[k + 1]
      elseif f == 'version' then version = row[k + 1]
      elseif f == 'attempts' then attempts = row[k + 1]
      elseif f == 'queue' then queue = row[k + 1]
      elseif f == 'progress' or f == 'step' then dirty = true
      end
    end
    if status == 'pending' and typ == ltyp then
      running[typ] = running[typ] + 1
      taken[typ] = (taken[typ] or 0) + 1
      version = int(version + 1)
      redis.call('HSET', jk, 'status', 'running', 'token', token, 'worker', ARGV[1],
        'started_at', now_s, 'attempts', (attempts or 0) + 1, 'updated_at', now_s,
        'version', version)
      if dirty then redis.call('HDEL', jk, 'progress', 'step') end
      leases[#leases + 1] = deadline
      leases[#leases + 1] = id
      removed[pk] = removed[pk] or {}
      table.insert(removed[pk], id)
      add_event(events, id, 'running', '0', '""', version, now_s, typ, queue or DEFAULT_QUEUE)
      add_history(KEYS[4 + 2 * cands + i], true, version, 'running', '0', '""', now_s)
      out[#out + 1] = id
      out[#out + 1] = row
      n = n + 1
    end
  end
end
if n > 0 then
  redis.call('ZADD', KEYS[1], unpack(leases))
  for pk, ids in pairs(removed) do redis.call('ZREM', pk, unpack(ids)) end
  for typ, k in pairs(taken) do redis.call('HINCRBY', KEYS[3], typ, k) end
  redis.call('HINCRBY', KEYS[2], 'pending', -n)
  redis.call('HINCRBY', KEYS[2], 'running', n)
  publish_events(ARGV[4], events)
end
return out
