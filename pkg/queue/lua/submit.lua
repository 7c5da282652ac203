-- submit.lua: create jobs of one queue, pending, or scheduled when run_at
-- is in the future. Each job is atomic on its own: a duplicate is refused
-- and the others are created.
-- (Hot path: one call takes a whole batch, so that the sequence, the
-- counters, each lane, its wake list and the queue sets are written once
-- per call, not once per job; each job costs one HSET (and a GET of its
-- unique key when it has one), the call one check that it is new. A new
-- job publishes no event: no one can be watching a job whose id its
-- submitter has not been told. One message names the lanes that got jobs,
-- for the lease calls waiting on them: a lane notice, an event without a
-- job_id, per lane.)
-- KEYS[1] scheduled zset  KEYS[2] counts  KEYS[3] queues set  KEYS[4] seq
-- KEYS[5] the queue's lane types set
-- KEYS[4+2l] lane l (pending zset)  KEYS[5+2l] its wake list, l = 1..L (L = ARGV[5])
-- then, for each job in turn: its hash, and its unique key if it has one
-- KEYS[#KEYS-1] the deadlines zset
-- KEYS[#KEYS] the history index (lib.lua: hist_write)
-- ARGV[1] queue  ARGV[2] events channel (the lane notices)  ARGV[3] wake cap
-- ARGV[4] the most queue names the queues set may hold (0: no bound)
-- ARGV[5] L, the number of lanes  ARGV[5+l] the type of lane l
-- then, for each job in turn: id, type, payload JSON, and '' for a job
--   whose other parameters are all at their defaults (the common job:
--   each argument costs Redis a string to parse and one to make in Lua),
--   else '1' followed by priority, max_retries, timeout ms, run_at ms (0:
--   now), unique key value ('' for none), more fields (a JSON object of
--   further hash fields, all strings, such as callback_url and trace; ''
--   for none: the common job decodes nothing), deadline ms (0: none)
-- Returns {OK, created_at ms, r1, r2, ...} where ri is {OK, status} or
-- {DUPLICATE, id of the job holding the key}; or {QUEUE_LIMIT, bound}, and
-- nothing created, when the queue is new and the set holds its most names.
local queue = ARGV[1]
local bound = tonumber(ARGV[4])
local known = bound > 0 and redis.call('SISMEMBER', KEYS[3], queue) == 1
if bound > 0 and not known and redis.call('SCARD', KEYS[3]) >= bound then
  return {QUEUE_LIMIT, ARGV[4]}
end
local now = now_ms()
local now_s = int(now)
local out = {OK, now_s}
local created = {pending = {OK, 'pending'}, scheduled = {OK, 'scheduled'}} -- shared rows
local nlanes = tonumber(ARGV[5])
local lane_of = {} -- type → lane number
for l = 1, nlanes do lane_of[ARGV[5 + l]] = l end
local pending, prios, lanes, scheduled = {}, {}, {}, 0
-- Ids are fresh random UUIDs (planSubmit), so a job hash that exists
-- already means this very call is a resend (the client library retries a
-- command whose reply was lost) that ran before, atomically: once one job
-- of the call is found new, the call is new and the others need no check
-- (one EXISTS per call instead of one per job).
local fresh = false
local k, a = 5 + 2 * nlanes, 5 + nlanes -- the keys and arguments read so far
local hist = {}
while k < #KEYS - 2 do
  local jk, uk = KEYS[k + 1], nil
  local id, typ, payload = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local prio, retries, timeout, run_at, unique, more, deadline = '0', DEFAULT_MAX_RETRIES, '0', '0', '', '', '0'
  -- plain: every parameter at its default (the short form), so the job
  -- is pending and stores only the fields every job has.
  local plain = ARGV[a + 4] == ''
  if plain then
    k, a = k + 1, a + 4
  else
    prio, retries, timeout, run_at, unique, more, deadline =
      ARGV[a + 5], ARGV[a + 6], ARGV[a + 7], ARGV[a + 8], ARGV[a + 9], ARGV[a + 10], ARGV[a + 11]
    if unique ~= '' then uk = KEYS[k + 2] end
    k, a = k + (uk and 2 or 1), a + 11
  end
  local holder = unique ~= '' and redis.call('GET', uk)
  if holder then
    out[#out + 1] = {DUPLICATE, holder}
  elseif not fresh and redis.call('EXISTS', jk) == 1 then
    out[#out + 1] = {DUPLICATE, id}
  else
    fresh = true
    local status = 'pending'
    if run_at ~= '0' and tonumber(run_at) > now then status = 'scheduled' end
    -- Fields at their default are not stored, and updated_at is
    -- created_at until the first change: a pending job stays small. (The
    -- plain shapes skip building the argument table.)
    if plain and queue == DEFAULT_QUEUE then
      redis.call('HSET', jk, 'type', typ, 'payload', payload, 'status', status,
        'created_at', now_s, 'version', '1')
    elseif plain then
      redis.call('HSET', jk, 'type', typ, 'payload', payload, 'status', status,
        'created_at', now_s, 'version', '1', 'queue', queue)
    else
      local h = {'type', typ, 'payload', payload, 'status', status, 'created_at', now_s, 'version', '1'}
      if queue ~= DEFAULT_QUEUE then h[#h + 1] = 'queue'; h[#h + 1] = queue end
      if retries ~= DEFAULT_MAX_RETRIES then h[#h + 1] = 'max_retries'; h[#h + 1] = retries end
      if prio ~= '0' then h[#h + 1] = 'priority'; h[#h + 1] = prio end
      if timeout ~= '0' then h[#h + 1] = 'timeout_ms'; h[#h + 1] = timeout end
      if deadline ~= '0' then -- the maintenance fails it there if it has not started
        h[#h + 1] = 'deadline'; h[#h + 1] = deadline
        redis.call('ZADD', KEYS[#KEYS - 1], deadline, id)
      end
      if unique ~= '' then
        h[#h + 1] = 'unique_key'; h[#h + 1] = unique
        redis.call('SET', uk, id)
      end
      if more ~= '' then
        for f, v in pairs(cjson.decode(more)) do h[#h + 1] = f; h[#h + 1] = v end
      end
      if status == 'scheduled' then
        h[#h + 1] = 'run_at'; h[#h + 1] = run_at
        redis.call('ZADD', KEYS[1], run_at, id)
        scheduled = scheduled + 1
      end
      redis.call('HSET', jk, unpack(h))
    end
    if status == 'pending' then
      pending[#pending + 1] = id
      prios[#prios + 1] = tonumber(prio)
      lanes[#lanes + 1] = lane_of[typ]
    end
    out[#out + 1] = created[status]
    hist_add(hist, queue, typ, 's')
  end
end
if #pending > 0 then
  -- The sequence orders jobs of equal priority (FIFO): reserve one number per job.
  local first = redis.call('INCRBY', KEYS[4], #pending) - #pending
  local zargs = {} -- lane → its ZADD arguments
  for k, id in ipairs(pending) do
    local z = zargs[lanes[k]]
    if not z then z = {}; zargs[lanes[k]] = z end
    z[#z + 1] = int(pending_score(prios[k], first + k))
    z[#z + 1] = id
  end
  local notice = {}
  for l, z in pairs(zargs) do
    redis.call('ZADD', KEYS[4 + 2 * l], unpack(z))
    wake(KEYS[5 + 2 * l], ARGV[3], #z / 2)
    redis.call('SADD', KEYS[5], ARGV[5 + l])
    notice[#notice + 1] = '{"status":"pending","type":"' .. ARGV[5 + l] .. '","queue":"' .. queue .. '"}'
  end
  redis.call('PUBLISH', ARGV[2], '[' .. table.concat(notice, ',') .. ']')
  redis.call('HINCRBY', KEYS[2], 'pending', #pending)
end
if scheduled > 0 then redis.call('HINCRBY', KEYS[2], 'scheduled', scheduled) end
if #out > 2 and not known then redis.call('SADD', KEYS[3], queue) end
hist_write(hist, KEYS[#KEYS], now)
return out
