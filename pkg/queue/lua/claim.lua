-- claim.lua: pending → running for up to ARGV[2] jobs taken from the heads
-- of the lanes, in run order: lanes of a lower rank (the claim's queue
-- order) first; within a rank, the lanes merge by score (priority,
-- recovered jobs first, then submission order: pending_score in lib.lua).
-- The script chooses the jobs itself, atomically, so concurrent claimers
-- never take one job twice and never collide on a candidate. A type at its
-- fleet-wide concurrency limit costs nothing more: its lanes are not read.
-- Nor are a paused queue's (claim controls: fields of the type limits
-- hash, read with the limits). A type with a rate limit starts no more
-- than its starts log leaves. A job past its deadline is not taken: it
-- fails (deadline_exceeded) here. A job with a timeout gets a lease no
-- longer than it.
-- (Hot path: each job is read once and written once; the limits, the
-- leases, the lanes, the counters and the events once per call.)
-- KEYS[1] leases  KEYS[2] counts  KEYS[3] type running  KEYS[4] type limits
-- KEYS[4+i] lane i (lanes in rank order)  KEYS[4+L+s] lane types set s
-- KEYS[#KEYS-T-3] callback deliveries (hooks)  KEYS[#KEYS-T-2] failed zset
-- KEYS[#KEYS-T-1] tallies  KEYS[#KEYS-T-1+k] the
-- starts log of the k-th type of the lanes (T of them, in the order the
-- lanes first name them; read only for a type with a rate limit)
-- KEYS[#KEYS] the history index (lib.lua: hist_write)
-- ARGV[1] worker id  ARGV[2] max jobs  ARGV[3] lease ms  ARGV[4] events channel
-- ARGV[5] number of lanes L  ARGV[6] the job hash key without the id
-- (keyspace.job("")): the jobs are known only once the lanes are read, so
-- their keys cannot be declared; they share the lanes' hash tag, hence
-- their Cluster slot, where a script may touch undeclared keys.
-- ARGV[4+3i] lane i's type  ARGV[5+3i] its rank  ARGV[6+3i] the number s of
--   its queue's lane types set, or 0: a lane whose type is not in the set
--   is empty and not read (a claim of many types, most of them idle,
--   checks them all in one SMISMEMBER)
-- ARGV[6+3L+j] run token of the j-th job taken (one per max job)
-- ARGV[6+3L+W+i] lane i's queue (W = max jobs)
-- ARGV[#ARGV] the watch channel (lib.lua watched)
-- ARGV[#ARGV-1] the history key without the id (keyspace.jobEvents(""): a
-- job's history shares its hash's slot, as undeclared as the hash; pushed
-- to only for a job whose last claim's event was not kept yet)
-- Returns {OK, now ms, blocked, wait ms, id, row, id, row, ...}, for each job taken
-- its id and its hash as it was before the claim (HGETALL order): the
-- caller applies the claim's own writes to it (claimedJob in job.go),
-- which saves copying each row into a table and back. blocked is 1 when
-- nothing was taken though a lane held jobs: their type is at its limit.
-- wait, when not 0, is how long until a type held back by its rate limit
-- may start a job again.
local want = tonumber(ARGV[2])
local nlanes = tonumber(ARGV[5])
local ltype, lrank, lset = {}, {}, {} -- per lane
local sets = {} -- per lane types set: the lanes it answers for
for i = 1, nlanes do
  ltype[i], lrank[i], lset[i] = ARGV[4 + 3 * i], ARGV[5 + 3 * i], tonumber(ARGV[6 + 3 * i])
  if lset[i] > 0 then
    sets[lset[i]] = sets[lset[i]] or {}
    table.insert(sets[lset[i]], i)
  end
end

-- room: per type, how many jobs the claim may still start (want when the
-- type has no limit). The running counts are read only for limited types.
local room, tlist, seen_t = {}, {}, {}
for i = 1, nlanes do
  local t = ltype[i]
  if not seen_t[t] then
    seen_t[t] = true
    tlist[#tlist + 1] = t
  end
end
-- Claim controls: after the types' limits, in the same read, the pause
-- fields of the lanes' queues, then the types' rate limits.
local fields, qfield = {unpack(tlist)}, {}
for i = 1, nlanes do
  local q = ARGV[6 + 3 * nlanes + want + i]
  if not qfield[q] then
    fields[#fields + 1] = '|paused|' .. q
    qfield[q] = #fields
  end
end
local rfield0 = #fields
for _, t in ipairs(tlist) do fields[#fields + 1] = '|rate|' .. t end
local limits = redis.call('HMGET', KEYS[4], unpack(fields))
local paused = {} -- per lane
for i = 1, nlanes do paused[i] = limits[qfield[ARGV[6 + 3 * nlanes + want + i]]] ~= false end
local khooks, kfailed, ktallies = KEYS[#KEYS - #tlist - 3], KEYS[#KEYS - #tlist - 2], KEYS[#KEYS - #tlist - 1]
local limited = false
for k, t in ipairs(tlist) do
  if limits[k] then limited = true end
  room[t] = want
end
if limited then
  local running = redis.call('HMGET', KEYS[3], unpack(tlist))
  for k, t in ipairs(tlist) do
    if limits[k] then
      room[t] = math.max(0, math.min(want, tonumber(limits[k]) - tonumber(running[k] or '0')))
    end
  end
end

local now_s, deadline, lease_ms, now, seen -- seen: whether the claim's events are watched (lib.lua)
-- A type with a rate limit ("n:period ms") may start n jobs in any
-- period: its starts log holds the run tokens of its starts in the last
-- one, scored by start time; room is at most what the log leaves.
local rated = {} -- type → {starts log, period ms, run tokens started here}
for k, t in ipairs(tlist) do
  local r, cap, per = limits[rfield0 + k]
  if r then cap, per = string.match(r, '^(%d+):(%d+)$') end
  if cap then
    now = now or now_ms()
    local starts = KEYS[#KEYS - #tlist - 1 + k]
    redis.call('ZREMRANGEBYSCORE', starts, '-inf', int(now - tonumber(per)))
    room[t] = math.max(0, math.min(room[t], tonumber(cap) - redis.call('ZCARD', starts)))
    rated[t] = {starts, tonumber(per), {}}
  end
end
local out = {OK, 0, 0, 0}
local n = 0
local leases, events, taken_t, hist = {}, {}, {}, {}
local taken, skipped = {}, {} -- per lane: ids taken, whether one was passed over
local expired = 0 -- past their deadline: failed
local stale = {} -- per lane: ids of entries that are no pending job

-- absent tells whether lane i is known empty: its type is not in its
-- queue's lane types set (each set read once, for all its lanes).
local members = {} -- per set: lane → in the set
local function absent(i)
  local s = lset[i]
  if s == 0 then return false end
  if not members[s] then
    local types = {}
    for k, l in ipairs(sets[s]) do types[k] = ltype[l] end
    local in_set = redis.call('SMISMEMBER', KEYS[4 + nlanes + s], unpack(types))
    members[s] = {}
    for k, l in ipairs(sets[s]) do members[s][l] = in_set[k] == 1 end
  end
  return not members[s][i]
end

-- take claims job id from lane i if it is pending and of the lane's type.
-- An entry whose job is gone or not pending (which the invariants forbid)
-- is dropped from the lane, so that it cannot hold the lane's head.
local function take(i, id)
  local jk = ARGV[6] .. id
  local row = redis.call('HGETALL', jk)
  local status, typ, queue, version, attempts, dirty, since, due, timeout, hook, claimed
  for k = 1, #row, 2 do
    local f = row[k]
    if f == 'status' then status = row[k + 1]
    elseif f == 'type' then typ = row[k + 1]
    elseif f == 'version' then version = row[k + 1]
    elseif f == 'attempts' then attempts = row[k + 1]
    elseif f == 'queue' then queue = row[k + 1]
    elseif f == 'updated_at' or (f == 'created_at' and not since) then since = row[k + 1]
    elseif f == 'progress' or f == 'step' then dirty = true
    elseif f == 'deadline' then due = row[k + 1]
    elseif f == 'timeout_ms' then timeout = row[k + 1]
    elseif f == 'callback_url' then hook = true
    elseif f == CLAIM_EVENT then claimed = row[k + 1]
    end
  end
  if status ~= 'pending' or typ ~= ltype[i] then
    skipped[i] = true
    if status ~= 'pending' then
      stale[i] = stale[i] or {}
      table.insert(stale[i], id)
    end
    return
  end
  if not now_s then
    now = now or now_ms()
    now_s = int(now)
    lease_ms = tonumber(ARGV[3])
    deadline = int(now + lease_ms)
    seen = watched(ARGV[4], ARGV[#ARGV])
  end
  taken[i] = taken[i] or {}
  if claimed and claimed ~= '' then -- the last claim's event, not kept yet (lib.lua)
    local hk = ARGV[#ARGV - 1] .. id
    if redis.call('RPUSH', hk, claimed) > HISTORY_LIMIT then redis.call('LTRIM', hk, -HISTORY_LIMIT, -1) end
  end
  if due and tonumber(due) <= now then
    -- Past its deadline: failed, never started.
    version = plus_one(version)
    redis.call('HSET', jk, 'status', 'failed', 'error', 'deadline_exceeded', 'step', 'Job failed',
      'completed_at', now_s, 'updated_at', now_s, 'version', version, CLAIM_EVENT, '')
    redis.call('ZADD', kfailed, now_s, id)
    table.insert(taken[i], id) -- out of the lane with the taken ones
    add_event(events, id, 'failed', '0', '"Job failed"', version, now_s, typ, queue or DEFAULT_QUEUE)
    hist_add(hist, queue or DEFAULT_QUEUE, typ, 'f')
    if hook then set_hook(jk, khooks, id, version, now) end
    expired = expired + 1
    return
  end
  n = n + 1
  room[typ] = room[typ] - 1
  taken_t[typ] = (taken_t[typ] or 0) + 1
  version = plus_one(version)
  -- The claim's event is kept in the job's record until the next push to
  -- its history (lib.lua CLAIM_EVENT): no push per claimed job.
  redis.call('HSET', jk, 'status', 'running', 'token', ARGV[6 + 3 * nlanes + n],
    'worker', ARGV[1], 'started_at', now_s, 'attempts', plus_one(attempts or '0'),
    'updated_at', now_s, 'version', version,
    CLAIM_EVENT, history_entry(version, 'running', '0', '""', now_s))
  if dirty then redis.call('HDEL', jk, 'progress', 'step') end
  -- (A timeout longer than the lease, as most are, leaves the lease as it is.)
  leases[#leases + 1] = timeout and num(timeout) < lease_ms and int(now + num(timeout)) or deadline
  leases[#leases + 1] = id
  if rated[typ] then
    local log = rated[typ][3]
    log[#log + 1] = now_s
    log[#log + 1] = ARGV[6 + 3 * nlanes + n]
  end
  table.insert(taken[i], id)
  if seen then add_event(events, id, 'running', '0', '""', version, now_s, typ, queue or DEFAULT_QUEUE) end
  -- The wait: since the job last became pending (submitted, due, put back).
  hist_add(hist, queue or DEFAULT_QUEUE, typ, 'b', 1, 'W', now - num(since or now))
  out[#out + 1] = id
  out[#out + 1] = row
end

-- Each rank's lanes in turn: read as many of each lane's head as it could
-- give, merge them by score, take in that order. A rank with one lane
-- that may hold jobs (a worker of many types, one of them busy) reads
-- that lane's ids alone, already in run order: no score to parse, no
-- table per job, no sort. (A rank whose read held jobs past their
-- deadline, failed instead of taken, is read on from where it stopped:
-- off, per lane, counts what was read.)
local first = 1
local off = {}
for i = 1, nlanes do off[i] = 0 end
while first <= nlanes and n < want do
  local last = first
  while last < nlanes and lrank[last + 1] == lrank[first] do last = last + 1 end
  local before = expired
  local live, give = {}, {} -- the rank's lanes that may give jobs; how many, by lane
  for i = first, last do
    local k = math.min(want - n, room[ltype[i]])
    if k > 0 and not paused[i] and not absent(i) then
      live[#live + 1] = i
      give[i] = k
    end
  end
  local cands, one = {}, #live == 1 and live[1]
  if one then
    cands = redis.call('ZRANGE', KEYS[4 + one], off[one], off[one] + give[one] - 1)
    off[one] = off[one] + #cands
  else
    for _, i in ipairs(live) do
      local r = redis.call('ZRANGE', KEYS[4 + i], off[i], off[i] + give[i] - 1, 'WITHSCORES')
      for p = 1, #r, 2 do
        cands[#cands + 1] = {tonumber(r[p + 1]), i, p, r[p]}
      end
      off[i] = off[i] + #r / 2
    end
    table.sort(cands, function(a, b)
      if a[1] ~= b[1] then return a[1] < b[1] end
      if a[2] ~= b[2] then return a[2] < b[2] end
      return a[3] < b[3]
    end)
  end
  for _, c in ipairs(cands) do
    if n >= want then break end
    local i, id = one, c
    if not one then i, id = c[2], c[4] end
    if room[ltype[i]] > 0 then take(i, id) end
  end
  if expired == before then first = last + 1 end
end

if n + expired > 0 then
  if n > 0 then redis.call('ZADD', KEYS[1], unpack(leases)) end
  for i, ids in pairs(taken) do
    if skipped[i] then
      redis.call('ZREM', KEYS[4 + i], unpack(ids))
    else -- the first #ids of the lane: the cheapest removal
      redis.call('ZREMRANGEBYRANK', KEYS[4 + i], 0, #ids - 1)
    end
  end
  for typ, k in pairs(taken_t) do redis.call('HINCRBY', KEYS[3], typ, k) end
  redis.call('HINCRBY', KEYS[2], 'pending', -n - expired)
  if n > 0 then redis.call('HINCRBY', KEYS[2], 'running', n) end
  if expired > 0 then
    redis.call('HINCRBY', KEYS[2], 'failed', expired)
    redis.call('HINCRBY', ktallies, 'deadline_exceeded', expired)
  end
  for _, r in pairs(rated) do
    if #r[3] > 0 then redis.call('ZADD', r[1], unpack(r[3])) end
  end
  publish_events(ARGV[4], events)
  hist_write(hist, KEYS[#KEYS], now)
  out[2] = now_s
end
for i, ids in pairs(stale) do redis.call('ZREM', KEYS[4 + i], unpack(ids)) end
if n == 0 and limited then
  for i = 1, nlanes do
    if room[ltype[i]] == 0 and redis.call('EXISTS', KEYS[4 + i]) == 1 then
      out[3] = 1
      break
    end
  end
end
local wait
for t, r in pairs(rated) do
  if room[t] == 0 then -- held back: until the oldest start leaves the window
    local oldest = redis.call('ZRANGE', r[1], 0, 0, 'WITHSCORES')
    local w = oldest[2] and math.max(1, tonumber(oldest[2]) + r[2] - now) or 1
    if not wait or w < wait then wait = w end
  end
end
if wait then out[4] = int(wait) end
return out
