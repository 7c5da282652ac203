-- deadline.lua: pending, scheduled or retrying → failed (deadline_exceeded)
-- for the candidates whose deadline passed by the Redis clock without a
-- start; any number of processes run it at once. A candidate that is
-- running keeps its entry, checked again a minute on (should the run
-- fail, its retry is past the deadline); one that finished, or is gone,
-- loses it.
-- KEYS[1] deadlines zset  KEYS[2] counts  KEYS[3] failed zset  KEYS[4] tallies
-- KEYS[5] callback deliveries (hooks)  KEYS[6] the history index
-- KEYS[3+4i] job hash of candidate i  KEYS[4+4i] its lane  KEYS[5+4i] its queue's
-- scheduled zset  KEYS[6+4i] its queue's retrying zset  KEYS[6+4n+i] its
-- events (n candidates: a job that ran before, now retrying, has them)
-- ARGV[1] events channel  ARGV[1+i] candidate i id
-- Returns {OK, number failed}
local now = now_ms()
local now_s = int(now)
local failed = 0
local events = {}
local hist = {}
local from = {pending = 1, scheduled = 2, retrying = 3}
local cands = #ARGV - 1
for i = 1, cands do
  local jk, id = KEYS[3 + 4 * i], ARGV[1 + i]
  local due = redis.call('ZSCORE', KEYS[1], id)
  if due and tonumber(due) <= now then
    local f = redis.call('HMGET', jk, 'status', 'queue', 'type', 'callback_url')
    local status = f[1]
    local set = from[status] and KEYS[3 + 4 * i + from[status]]
    if set and redis.call('ZREM', set, id) == 1 then
      redis.call('HSET', jk, 'status', 'failed', 'error', 'deadline_exceeded', 'step', 'Job failed',
        'completed_at', now_s)
      redis.call('ZADD', KEYS[3], now_s, id)
      redis.call('ZREM', KEYS[1], id)
      move_count(KEYS[2], status, 'failed')
      local version = touch(jk, now)
      if f[4] then set_hook(jk, KEYS[5], id, version, now) end
      hist_add(hist, f[2] or DEFAULT_QUEUE, f[3], 'f')
      add_job_event_kept(events, id, jk, KEYS[6 + 4 * cands + i])
      failed = failed + 1
    elseif status == 'running' then
      redis.call('ZADD', KEYS[1], int(now + 60000), id)
    else
      redis.call('ZREM', KEYS[1], id)
    end
  end
end
if failed > 0 then redis.call('HINCRBY', KEYS[4], 'deadline_exceeded', failed) end
hist_write(hist, KEYS[6], now)
publish_events(ARGV[1], events)
return {OK, failed}
