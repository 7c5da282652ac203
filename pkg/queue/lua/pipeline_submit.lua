-- pipeline_submit.lua: creates pipelines, each with all its jobs at once,
-- or nothing of it: a pipeline refused (its unique key held, the queue
-- registry full) leaves no trace and the others of the call are created.
-- A job without parents is pending (in its lane); the others wait for
-- their parents (waiting), each of several parents counting those it
-- waits for. A job's key and edges are in the pipeline's graph only
-- (layout 3): the Go side reads them there, once per pipeline and process.
-- (Hot path when producers submit together: the lanes, counters, waiting
-- set, history and lane notices are written once per call, not once per
-- pipeline.)
-- KEYS[1] counts  KEYS[2] queues set  KEYS[3] seq  KEYS[4] waiting zset
-- KEYS[5] the history index (lib.lua: hist_write)
-- KEYS[3+3l..5+3l], l = 1..L: lane l, its wake list, its queue's lane
-- types set (each lane once, whatever number of jobs)
-- then, for each pipeline in turn: its hash, its unique key (its hash
-- when it has none), and the job hash of each of its jobs
-- ARGV[1] events channel  ARGV[2] wake cap
-- ARGV[3] the most queue names the queues set may hold (0: no bound)
-- ARGV[4] L  ARGV[3+2l] the type of lane l  ARGV[4+2l] its queue
-- then, for each pipeline in turn: id, unique key ('' for none), the
-- graph JSON (kept in its hash), its callback URL ('' for none), its
-- number of jobs n; then for each job: id, payload JSON, number of
-- parents, its lane l (its type and queue), '' when its priority,
-- max_retries and timeout are the defaults, else "<priority>:<max_retries>:<timeout ms>",
-- and its callback URL ('' for none). (Each argument costs Redis a
-- string to parse and one to make in Lua: the common job sends six.)
-- Returns {created_at s, r1, r2, ...}, ri per pipeline: {OK} |
-- {DUPLICATE, id holding the key} | {QUEUE_LIMIT, bound} when a new
-- queue would pass the registry's bound.
local JOB_ARGS = 6

-- admit tells whether the pipeline may be created: its unique key free,
-- its id unused, and its queues in the registry (each once; one known to
-- the call costs nothing). Should its new queues take the registry past
-- the bound, they are taken back and the pipeline refused.
local function admit(pk, uk, pid, unique, a, n, known, bound, lanes)
  if unique ~= '' then
    local holder = redis.call('GET', uk)
    if holder then return {DUPLICATE, holder} end
  end
  if redis.call('EXISTS', pk) == 1 then return {DUPLICATE, pid} end
  local added = {}
  for i = 1, n do
    local q = lanes[tonumber(ARGV[a + JOB_ARGS * (i - 1) + 4])].queue
    if not known[q] then
      known[q] = true
      if redis.call('SADD', KEYS[2], q) == 1 then added[#added + 1] = q end
    end
  end
  if #added > 0 and bound > 0 and redis.call('SCARD', KEYS[2]) > bound then
    redis.call('SREM', KEYS[2], unpack(added))
    for _, q in ipairs(added) do known[q] = nil end
    return {QUEUE_LIMIT, tostring(bound)}
  end
  return nil
end

-- create_jobs writes a pipeline's n jobs (their arguments from a, their
-- keys from k): each job's hash, and the pending ones into s's lanes and
-- notices, the waiting ones into s's waiting set.
local function create_jobs(s, pid, a, k, n)
  for i = 1, n do
    local b = a + JOB_ARGS * (i - 1)
    local jk = KEYS[k + i]
    local id, nparents = ARGV[b + 1], ARGV[b + 3]
    local l = s.lanes[tonumber(ARGV[b + 4])]
    local typ, queue = l.typ, l.queue
    local prio, retries, timeout = '0', DEFAULT_MAX_RETRIES, '0'
    if ARGV[b + 5] ~= '' then prio, retries, timeout = string.match(ARGV[b + 5], '^(%d+):(%d+):(%d+)$') end
    local status = nparents == '0' and 'pending' or 'waiting'
    local h = {'type', typ, 'payload', ARGV[b + 2], 'status', status, 'created_at', s.now_s,
      'version', '1', 'pipeline', pid}
    if queue ~= DEFAULT_QUEUE then h[#h + 1] = 'queue'; h[#h + 1] = queue end
    if prio ~= '0' then h[#h + 1] = 'priority'; h[#h + 1] = prio end
    if retries ~= DEFAULT_MAX_RETRIES then h[#h + 1] = 'max_retries'; h[#h + 1] = retries end
    if timeout ~= '0' then h[#h + 1] = 'timeout_ms'; h[#h + 1] = timeout end
    -- One parent needs no count: its completion is the last one.
    if status == 'waiting' and nparents ~= '1' then h[#h + 1] = 'waits'; h[#h + 1] = nparents end
    if ARGV[b + 6] ~= '' then h[#h + 1] = 'callback_url'; h[#h + 1] = ARGV[b + 6] end
    redis.call('HSET', jk, unpack(h))
    hist_add(s.hist, queue, typ, 's')
    if status == 'pending' then
      if not l.ids then
        l.ids, l.prios = {}, {}
        s.lane_order[#s.lane_order + 1] = l
      end
      l.ids[#l.ids + 1] = id
      l.prios[#l.prios + 1] = tonumber(prio)
      s.pending = s.pending + 1
      s.notice[#s.notice + 1] = '{"status":"pending","type":"' .. typ .. '","queue":"' .. queue .. '"}'
    else
      s.waiting[#s.waiting + 1] = s.now_s
      s.waiting[#s.waiting + 1] = id
    end
  end
end

local now = now_ms()
local s = {now_s = int(now), hist = {}, lanes = {}, lane_order = {}, pending = 0, waiting = {}, notice = {}}
local out = {s.now_s}
local known, bound = {}, tonumber(ARGV[3])
for l = 1, tonumber(ARGV[4]) do
  s.lanes[l] = {key = KEYS[3 + 3 * l], wake = KEYS[4 + 3 * l], types = KEYS[5 + 3 * l], typ = ARGV[3 + 2 * l],
    queue = ARGV[4 + 2 * l]}
end
local k, a = 5 + 3 * #s.lanes, 4 + 2 * #s.lanes -- the keys and arguments read so far
while a < #ARGV do
  local pk, uk = KEYS[k + 1], KEYS[k + 2]
  local pid, unique, graph, callback, n = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], tonumber(ARGV[a + 5])
  local refused = admit(pk, uk, pid, unique, a + 5, n, known, bound, s.lanes)
  if refused then
    out[#out + 1] = refused
  else
    create_jobs(s, pid, a + 5, k + 2, n)
    local h = {'status', 'running', 'created_at', s.now_s, 'version', '1', 'jobs', n, 'layout', '3',
      'graph', graph}
    if unique ~= '' then
      h[#h + 1] = 'unique_key'; h[#h + 1] = unique
      redis.call('SET', uk, pid)
    end
    if callback ~= '' then h[#h + 1] = 'callback_url'; h[#h + 1] = callback end
    redis.call('HSET', pk, unpack(h))
    out[#out + 1] = {OK}
  end
  k, a = k + 2 + n, a + 5 + JOB_ARGS * n
end
lanes_put(s.lane_order, s.pending, KEYS[3], ARGV[2])
for i = 1, #s.waiting, 1000 do -- unpack takes a few thousand arguments at most
  redis.call('ZADD', KEYS[4], unpack(s.waiting, i, math.min(i + 999, #s.waiting)))
end
if #s.waiting > 0 then redis.call('HINCRBY', KEYS[1], 'waiting', #s.waiting / 2) end
if s.pending > 0 then redis.call('HINCRBY', KEYS[1], 'pending', s.pending) end
hist_write(s.hist, KEYS[5], now)
-- Lane notices for the lease calls waiting on the lanes (as submit.lua).
if #s.notice > 0 then redis.call('PUBLISH', ARGV[1], '[' .. table.concat(s.notice, ',') .. ']') end
return out
