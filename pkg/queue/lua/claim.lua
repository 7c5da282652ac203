-- claim.lua: pending → running for up to ARGV[2] of the candidates, in order.
-- Candidates were peeked from the lanes without a lock; each is taken only
-- if it is still pending and its type is under its fleet-wide concurrency
-- limit, so concurrent claimers never take one job twice. A type at its
-- limit costs nothing more: the rest of its lane is skipped unread. A
-- paused queue's jobs are not taken (claim controls, below). A job past
-- its deadline is not taken either: it fails (deadline_exceeded) here.
-- A job with a timeout gets a lease no longer than it.
-- (Hot path: each job is read once and written once; the leases, the
-- lanes, the counters and the events are written once per call.)
-- KEYS[1] leases  KEYS[2] counts  KEYS[3] type running  KEYS[4] type limits
-- KEYS[5] failed zset  KEYS[6] tallies
-- KEYS[5+2i] job hash of candidate i   KEYS[6+2i] the lane holding it
-- ARGV[1] worker id  ARGV[2] max jobs  ARGV[3] lease ms  ARGV[4] events channel
-- ARGV[1+4i] candidate i id  ARGV[2+4i] run token for it  ARGV[3+4i] its lane's type
-- ARGV[4+4i] its lane's queue
-- Returns {OK, now ms, id, row, id, row, ...}, for each job taken its id
-- and its hash as it was before the claim (HGETALL order): the caller
-- applies the claim's own writes to it (claimedJob in job.go), which
-- saves copying each row into a table and back.
local want = tonumber(ARGV[2])
local now = now_ms()
local now_s = int(now)
local out = {OK, now_s}
local n = 0
local deadline = int(now + tonumber(ARGV[3]))
local limits, running, taken = {}, {}, {} -- per type, read at most once
local paused = {} -- per queue, read at most once
local leases, removed, events = {}, {}, {}
local expired = 0 -- past their deadline: failed
for i = 1, (#KEYS - 6) / 2 do
  if n >= want then break end
  local jk, pk = KEYS[5 + 2 * i], KEYS[6 + 2 * i]
  local id, token, ltyp, lq = ARGV[1 + 4 * i], ARGV[2 + 4 * i], ARGV[3 + 4 * i], ARGV[4 + 4 * i]
  -- Claim controls: the type's limit and its queue's pause, in one read
  -- (the type limits hash holds both; see pausedField in keys.go).
  if limits[ltyp] == nil then
    local c = redis.call('HMGET', KEYS[4], ltyp, '|paused|' .. lq)
    limits[ltyp] = tonumber(c[1] or '-1')
    if paused[lq] == nil then paused[lq] = c[2] ~= false end
    running[ltyp] = tonumber(redis.call('HGET', KEYS[3], ltyp) or '0')
  elseif paused[lq] == nil then
    paused[lq] = redis.call('HEXISTS', KEYS[4], '|paused|' .. lq) == 1
  end
  if not paused[lq] and (limits[ltyp] < 0 or running[ltyp] < limits[ltyp]) and redis.call('ZSCORE', pk, id) then
    local row = redis.call('HGETALL', jk)
    local status, typ, queue, version, attempts, dirty, due, timeout
    for k = 1, #row, 2 do
      local f = row[k]
      if f == 'status' then status = row[k + 1]
      elseif f == 'type' then typ = row[k + 1]
      elseif f == 'version' then version = row[k + 1]
      elseif f == 'attempts' then attempts = row[k + 1]
      elseif f == 'queue' then queue = row[k + 1]
      elseif f == 'progress' or f == 'step' then dirty = true
      elseif f == 'deadline' then due = row[k + 1]
      elseif f == 'timeout_ms' then timeout = row[k + 1]
      end
    end
    if status == 'pending' and typ == ltyp and due and tonumber(due) <= now then
      -- Past its deadline: failed, never started.
      version = int(version + 1)
      redis.call('HSET', jk, 'status', 'failed', 'error', 'deadline_exceeded', 'step', 'Job failed',
        'completed_at', now_s, 'updated_at', now_s, 'version', version)
      redis.call('ZADD', KEYS[5], now_s, id)
      removed[pk] = removed[pk] or {}
      table.insert(removed[pk], id)
      add_event(events, id, 'failed', '0', '"Job failed"', version, now_s, typ, queue or DEFAULT_QUEUE)
      expired = expired + 1
    elseif status == 'pending' and typ == ltyp then
      running[typ] = running[typ] + 1
      taken[typ] = (taken[typ] or 0) + 1
      version = int(version + 1)
      redis.call('HSET', jk, 'status', 'running', 'token', token, 'worker', ARGV[1],
        'started_at', now_s, 'attempts', (attempts or 0) + 1, 'updated_at', now_s,
        'version', version)
      if dirty then redis.call('HDEL', jk, 'progress', 'step') end
      leases[#leases + 1] = timeout and int(math.min(tonumber(deadline), now + tonumber(timeout))) or deadline
      leases[#leases + 1] = id
      removed[pk] = removed[pk] or {}
      table.insert(removed[pk], id)
      add_event(events, id, 'running', '0', '""', version, now_s, typ, queue or DEFAULT_QUEUE)
      out[#out + 1] = id
      out[#out + 1] = row
      n = n + 1
    end
  end
end
if n > 0 then
  redis.call('ZADD', KEYS[1], unpack(leases))
  for typ, k in pairs(taken) do redis.call('HINCRBY', KEYS[3], typ, k) end
  redis.call('HINCRBY', KEYS[2], 'running', n)
end
if n + expired > 0 then
  for pk, ids in pairs(removed) do redis.call('ZREM', pk, unpack(ids)) end
  redis.call('HINCRBY', KEYS[2], 'pending', -n - expired)
  if expired > 0 then
    redis.call('HINCRBY', KEYS[2], 'failed', expired)
    redis.call('HINCRBY', KEYS[6], 'deadline_exceeded', expired)
  end
  publish_events(ARGV[4], events)
end
return out
