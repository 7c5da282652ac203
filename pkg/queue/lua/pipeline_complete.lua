-- pipeline_complete.lua: running → completed for several runs of jobs of
-- pipelines at once, each only if its run still holds the lease, and in
-- the same step each child whose last unfinished parent one of them was:
-- waiting → pending (in its lane). A child's count of parents it waits
-- for drops once per completion that changes its parent (a repeated
-- completion by the same run is answered OK and changes nothing, as in
-- complete.lua): it becomes pending exactly once, never before its last
-- parent completed, and no crash can come between the two.
-- (Hot path, as complete.lua: each job and child is read once and
-- written once; the leases, lanes, counters, pipelines and events are
-- written once per call.)
-- KEYS[1] leases  KEYS[2] counts  KEYS[3] type running  KEYS[4] type limits
-- KEYS[5] completed zset  KEYS[6] seq  KEYS[7] waiting zset  KEYS[8] queues set
-- KEYS[9] ended pipelines zset  KEYS[#KEYS - 1] hooks zset (callbacks to deliver)
-- KEYS[#KEYS] the history index (lib.lua: hist_write)
-- then, for each run in turn: its job hash, the wake list of its lane,
-- its pipeline's hash, and for each of its C children: the child's job
-- hash, its lane, the lane's wake list, its queue's lane types set
-- ARGV[1] events channel  ARGV[2] wake cap
-- then, for each run in turn: id, run token, result JSON ('' for none),
-- pipeline id, C; and for each child: id, type, queue
-- Returns {OK, r1, r2, ...} where ri is {OK} | {NOT_FOUND} | {LEASE_LOST, status}.
local out = {OK}
local ok_row = {OK}
local now = now_ms()
local now_s = int(now)
local done, finished, events = {}, {}, {}
local types = {} -- type → {n = runs ended, wake = {wake list = true}}
local pipes, pipe_order = {}, {} -- pipeline id → {key, n completed}
local lanes, lane_order = {}, {} -- lane key → {wake, types, typ, ids, prios}
local unblocked, queues, hist = {}, {}, {}
local k, a = 9, 2 -- the keys and arguments read so far
while a < #ARGV do
  local jk, wk, pk = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
  local id, token, result, pid = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  local nc = tonumber(ARGV[a + 5])
  local f = redis.call('HMGET', jk, 'status', 'token', 'type', 'queue', 'version', 'error', 'started_at',
    'callback_url')
  if not f[1] then
    out[#out + 1] = {NOT_FOUND}
  elseif f[1] == 'completed' and f[2] == token then
    out[#out + 1] = ok_row -- completed by this very run already
  elseif f[1] ~= 'running' or f[2] ~= token then
    out[#out + 1] = {LEASE_LOST, f[1]}
  else
    local version = int(f[5] + 1)
    local h = {'status', 'completed', 'progress', '100', 'step', 'Job completed successfully',
      'completed_at', now_s, 'updated_at', now_s, 'version', version}
    if result ~= '' then h[#h + 1] = 'result'; h[#h + 1] = result end
    redis.call('HSET', jk, unpack(h))
    if f[6] then redis.call('HDEL', jk, 'error') end
    if f[8] then set_hook(jk, KEYS[#KEYS - 1], id, version, now) end
    done[#done + 1] = id
    finished[#finished + 1] = now_s
    finished[#finished + 1] = id
    local t = types[f[3]] or {n = 0, wake = {}}
    t.n = t.n + 1
    t.wake[wk] = true
    types[f[3]] = t
    add_event(events, id, 'completed', '100', '"Job completed successfully"',
      version, now_s, f[3], f[4] or DEFAULT_QUEUE)
    add_history(job_list(jk, id, 'jobevents'), false, version, 'completed', '100',
      '"Job completed successfully"', now_s)
    hist_add(hist, f[4] or DEFAULT_QUEUE, f[3], 'c', 1, 'R', now - tonumber(f[7] or now))
    local p = pipes[pid]
    if not p then
      p = {key = pk, n = 0}
      pipes[pid] = p
      pipe_order[#pipe_order + 1] = pid
    end
    p.n = p.n + 1
    for c = 1, nc do
      local ck, lk = KEYS[k + 4 * c], KEYS[k + 4 * c + 1]
      local cid, ctyp, cqueue = ARGV[a + 3 * c + 3], ARGV[a + 3 * c + 4], ARGV[a + 3 * c + 5]
      if redis.call('HINCRBY', ck, 'waits', -1) <= 0 then
        local g = redis.call('HMGET', ck, 'status', 'version', 'priority')
        if g[1] == 'waiting' then
          local cv = int(g[2] + 1)
          redis.call('HSET', ck, 'status', 'pending', 'updated_at', now_s, 'version', cv)
          unblocked[#unblocked + 1] = cid
          local l = lanes[lk]
          if not l then
            l = {wake = KEYS[k + 4 * c + 2], types = KEYS[k + 4 * c + 3], typ = ctyp, ids = {}, prios = {}}
            lanes[lk] = l
            lane_order[#lane_order + 1] = lk
          end
          l.ids[#l.ids + 1] = cid
          l.prios[#l.prios + 1] = tonumber(g[3] or '0')
          queues[cqueue] = true
          add_event(events, cid, 'pending', '0', '""', cv, now_s, ctyp, cqueue)
          add_history(job_list(ck, cid, 'jobevents'), false, cv, 'pending', '0', '""', now_s)
        end
      end
    end
    out[#out + 1] = ok_row
  end
  k, a = k + 3 + 4 * nc, a + 5 + 3 * nc
end
if #done > 0 then
  redis.call('ZREM', KEYS[1], unpack(done))
  redis.call('ZADD', KEYS[5], unpack(finished))
  for typ, t in pairs(types) do
    release_type(typ, t.n, KEYS[3], KEYS[4], t.wake, ARGV[2])
  end
  redis.call('HINCRBY', KEYS[2], 'running', -#done)
  redis.call('HINCRBY', KEYS[2], 'completed', #done)
end
if #unblocked > 0 then
  -- The sequence orders jobs of equal priority (FIFO): one number each.
  local seq = redis.call('INCRBY', KEYS[6], #unblocked) - #unblocked
  for _, lk in ipairs(lane_order) do
    local l = lanes[lk]
    for i = 1, #l.ids, 1000 do -- unpack takes a few thousand arguments at most
      local z = {}
      for j = i, math.min(i + 999, #l.ids) do
        seq = seq + 1
        z[#z + 1] = int(pending_score(l.prios[j], seq))
        z[#z + 1] = l.ids[j]
      end
      redis.call('ZADD', lk, unpack(z))
    end
    redis.call('SADD', l.types, l.typ)
    wake(l.wake, ARGV[2], #l.ids)
  end
  for i = 1, #unblocked, 1000 do
    redis.call('ZREM', KEYS[7], unpack(unblocked, i, math.min(i + 999, #unblocked)))
  end
  for q in pairs(queues) do redis.call('SADD', KEYS[8], q) end -- forgotten while they waited, maybe
  redis.call('HINCRBY', KEYS[2], 'waiting', -#unblocked)
  redis.call('HINCRBY', KEYS[2], 'pending', #unblocked)
end
publish_events(ARGV[1], events)
hist_write(hist, KEYS[#KEYS], now)
for _, pid in ipairs(pipe_order) do
  local p = pipes[pid]
  redis.call('HINCRBY', p.key, 'completed', p.n)
  pipe_settle(p.key, KEYS[9], ARGV[1], pid, now, KEYS[#KEYS - 1])
end
return out
