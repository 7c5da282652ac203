-- pipeline_complete.lua: running → completed for several runs of jobs of
-- pipelines at once, each only if its run still holds the lease, and in
-- the same step each child whose last unfinished parent one of them was:
-- waiting → pending (in its lane). A child becomes pending exactly once,
-- never before its last parent completed, and no crash can come between
-- the two. A repeated completion by the same run is answered OK and
-- changes nothing, as in complete.lua.
-- (Hot path, as complete.lua: each job is read once and written once;
-- each child once per call, whatever number of its parents the call
-- completes; the leases, lanes, counters, pipelines and events are
-- written once per call, and the events go out as one message.)
-- KEYS[1] leases  KEYS[2] counts  KEYS[3] type running  KEYS[4] type limits
-- KEYS[5] completed zset  KEYS[6] seq  KEYS[7] waiting zset  KEYS[8] queues set
-- KEYS[9] ended pipelines zset  KEYS[#KEYS - 1] hooks zset (callbacks to deliver)
-- KEYS[#KEYS] the history index (lib.lua: hist_write)
-- KEYS[7+3l..9+3l], l = 1..L: the children's lane l, its wake list, its
-- queue's lane types set (each lane once, whatever number of children)
-- then, for each run in turn: its job hash and the wake list of its lane
-- ARGV[1] events channel  ARGV[2] wake cap  ARGV[3] L
-- ARGV[4] a job hash's key without the id, ARGV[5] a pipeline hash's
-- (keyspace.job(""), keyspace.pipeline("")): the children's and the
-- pipelines' keys, not declared, share the runs' hash tag, hence their
-- Cluster slot, where a script may touch undeclared keys
-- ARGV[6] the watch channel (lib.lua watched)
-- ARGV[5+2l..6+2l]: the type and queue of lane l
-- ARGV[7+2L] S, then for each spec s = 1..S (what the release of the
-- children that share it needs): their lane l, their number of parents
-- ('0' when not known) and their priority ('' for 0, or not known:
-- pipe_as_submitted)
-- then, for each run in turn: id, run token, result JSON ('' for none),
-- pipeline id, N, and N arguments naming its children: each child's id,
-- preceded, where the spec of the children first named from there on
-- changes, by '' and the spec's s (a child named before needs none)
-- Returns {OK, r1, r2, ...} where ri is {OK} | {NOT_FOUND} | {LEASE_LOST, status}.
-- (No push to a completed job's kept events, as complete.lua: its record
-- is its last event, lib.lua CLAIM_EVENT.)

-- submitted tells whether pipeline p is as submitted (pipe_as_submitted),
-- read when first needed.
local function submitted(p)
  if p.as_submitted == nil then p.as_submitted = pipe_as_submitted(p.key) end
  return p.as_submitted
end

-- release_children moves each child (kids: id → {job hash, spec {lane,
-- number of parents, priority}, parents completed by this call, its
-- pipeline (marked alive: it has a job pending or waiting)}, order: their
-- ids; one no run of the call completed a parent of is left) of the
-- runs this call completed whose parents have now all completed: waiting
-- → pending, in its lane (lanes: l → {key, wake, types, type, queue}).
-- When the call completed all its parents (their number known), none had
-- completed before, so it is released without counting down; otherwise
-- its count of parents it waits for drops once by those this call
-- completed, and it is released at zero. Only a waiting child moves (one
-- cancelled below a failed parent, or by a user, stays): it is read
-- first, unless its pipeline is as submitted (pipe_as_submitted), when
-- it is waiting at version 1, never ran, and its priority is known.
-- The children made pending in one lane at one version share one event
-- (add_pending_events), added to events (false: none is watched).
local function release_children(order, kids, lanes, seqkey, waitkey, queueskey, counts, cap, events, now)
  local now_s = int(now)
  local lane_order, unblocked, queues = {}, {}, {}
  for _, cid in ipairs(order) do
    local kid = kids[cid]
    local ck, sp = kid[1], kid[2]
    local l, np = sp[1], sp[2]
    local last = np > 0 and kid[3] >= np
    if kid[3] == 0 then
      last = nil -- named by runs that did not complete
    elseif not last then
      -- Only a waiting job counts parents (a release sets its count to 0,
      -- a cancel drops it): one still counting keeps its pipeline running.
      if redis.call('HINCRBY', ck, 'waits', -kid[3]) > 0 then kid[4].alive = true else last = true end
    end
    local status, version, prio, ran -- the child as it waits
    if last then
      if submitted(kid[4]) then
        status, version, prio = 'waiting', '1', sp[3]
      else
        local g = redis.call('HMGET', ck, 'status', 'version', 'priority', 'attempts', 'restarts')
        status, version, prio, ran = g[1], g[2], g[3], g[4] or g[5]
      end
    end
    if last and status == 'waiting' then
      local cv = plus_one(version)
      if np == 1 then -- no count kept (pipeline_submit.lua)
        redis.call('HSET', ck, 'status', 'pending', 'updated_at', now_s, 'version', cv)
      else
        redis.call('HSET', ck, 'status', 'pending', 'waits', '0', 'updated_at', now_s, 'version', cv)
      end
      unblocked[#unblocked + 1] = cid
      kid[4].alive = true
      if not l.ids then
        l.ids, l.prios, l.at, l.versions = {}, {}, {}, {}
        lane_order[#lane_order + 1] = l
      end
      l.ids[#l.ids + 1] = cid
      l.prios[#l.prios + 1] = tonumber(prio or '') or 0
      queues[l.queue] = true
      local g = l.at[cv] -- the lane's children made pending at version cv
      if not g then
        g = {}
        l.at[cv] = g
        l.versions[#l.versions + 1] = cv
      end
      g[#g + 1] = cid
      -- A history starts at a job's first claim (lib.lua): a child never
      -- claimed (no attempts) nor restarted has none to append to.
      if ran then
        add_history(job_list(ck, cid, 'jobevents'), false, cv, 'pending', '0', '""', now_s)
      end
    end
  end
  if #unblocked == 0 then return end
  lanes_put(lane_order, #unblocked, seqkey, cap)
  for _, l in ipairs(events and lane_order or {}) do -- (events false: not watched, lib.lua watched)
    local tail = event_tail(now_s, l.typ, l.queue)
    for _, cv in ipairs(l.versions) do add_pending_events(events, l.at[cv], cv, tail) end
  end
  for i = 1, #unblocked, 1000 do
    redis.call('ZREM', waitkey, unpack(unblocked, i, math.min(i + 999, #unblocked)))
  end
  for q in pairs(queues) do redis.call('SADD', queueskey, q) end -- forgotten while they waited, maybe
  redis.call('HINCRBY', counts, 'waiting', -#unblocked)
  redis.call('HINCRBY', counts, 'pending', #unblocked)
end

local now = now_ms()
local c = {out = {OK}, done = {}, finished = {}, types = {}, events = {}, hist = {}, now = now, now_s = int(now),
  watched = watched(ARGV[1], ARGV[6])}
local pipes, pipe_order = {}, {} -- pipeline id → {key, n completed, whether as submitted once read}
local kids, kid_order = {}, {} -- child id → (release_children)
local lanes = {}
for l = 1, tonumber(ARGV[3]) do
  lanes[l] = {key = KEYS[7 + 3 * l], wake = KEYS[8 + 3 * l], types = KEYS[9 + 3 * l],
    typ = ARGV[5 + 2 * l], queue = ARGV[6 + 2 * l]}
end
local specs = {}
for s = 1, tonumber(ARGV[7 + 2 * #lanes]) do
  local b = 5 + 2 * #lanes + 3 * s
  specs[s] = {lanes[tonumber(ARGV[b])], tonumber(ARGV[b + 1]), ARGV[b + 2]}
end
local k, a = 9 + 3 * #lanes, 7 + 2 * #lanes + 3 * #specs -- the keys and arguments read so far
local sp -- the spec of the children named next
while a < #ARGV do
  local jk, wk = KEYS[k + 1], KEYS[k + 2]
  local pid, n = ARGV[a + 4], tonumber(ARGV[a + 5])
  local p
  if complete_run(c, jk, wk, ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], KEYS[#KEYS - 1]) then
    p = pipes[pid]
    if not p then
      p = {key = ARGV[5] .. pid, n = 0}
      pipes[pid] = p
      pipe_order[#pipe_order + 1] = pid
    end
    p.n = p.n + 1
  end
  local j, last = a + 6, a + 5 + n
  while j <= last do
    local cid = ARGV[j]
    if cid == '' then -- the children first named from here on share spec ARGV[j + 1]
      sp = specs[tonumber(ARGV[j + 1])]
      j = j + 2
    else
      local kid = kids[cid]
      if not kid then
        kid = {ARGV[4] .. cid, sp, 0}
        kids[cid] = kid
        kid_order[#kid_order + 1] = cid
      end
      if p then
        kid[3] = kid[3] + 1
        kid[4] = p
      end
      j = j + 1
    end
  end
  a = last
  k = k + 2
end
complete_end(c, KEYS[1], KEYS[5], KEYS[3], KEYS[4], KEYS[2], ARGV[2])
release_children(kid_order, kids, lanes, KEYS[6], KEYS[7], KEYS[8], KEYS[2], ARGV[2], c.watched and c.events, now)
hist_write(c.hist, KEYS[#KEYS], now)
-- A pipeline's completed jobs are counted with its end, or alone; one
-- known to have a job waiting or just made pending is running, as it was,
-- and is not read for it.
for _, pid in ipairs(pipe_order) do
  local p = pipes[pid]
  if p.alive then
    redis.call('HINCRBY', p.key, 'completed', p.n)
  else
    local f = pipe_read(p.key)
    if f[1] then
      local done = int(tonumber(f[3] or '0') + p.n)
      f[3] = done
      if not pipe_settle(p.key, KEYS[9], ARGV[1], pid, now, KEYS[#KEYS - 1], c.watched and c.events, f,
          {'completed', done}) then
        redis.call('HINCRBY', p.key, 'completed', p.n)
      end
    end
  end
end
publish_events(ARGV[1], c.events)
return c.out
