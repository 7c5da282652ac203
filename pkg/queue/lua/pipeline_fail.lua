-- pipeline_fail.lua: a failed run of a job of a pipeline, as fail.lua —
-- running → retrying (attempts left: due after the backoff) or running →
-- failed (permanent error, or attempts used up) — or the reaper's failure
-- of one whose lease expired with no attempts left (run token ''). A job
-- that fails for good fails its pipeline in the same step: every job
-- below it (all waiting: none can have left waiting while it was
-- unfinished) → cancelled, with an error naming it.
-- KEYS[1] job hash  KEYS[2] leases  KEYS[3] counts  KEYS[4] type running
-- KEYS[5] type limits  KEYS[6] wake list of the job's lane  KEYS[7] failed zset
-- KEYS[8] retrying zset of the queue  KEYS[9] queues set  KEYS[10] pipeline hash
-- KEYS[11] cancelled zset  KEYS[12] waiting zset  KEYS[13] ended pipelines zset
-- KEYS[13+d] job hash of the d-th job below it  KEYS[#KEYS - 1] hooks zset
-- KEYS[#KEYS] the history index (lib.lua: hist_write)
-- ARGV[1] id  ARGV[2] run token ('': the reaper's)  ARGV[3] error text
-- ARGV[4] permanent ('1'/'0')  ARGV[5] backoff ms  ARGV[6] events channel
-- ARGV[7] wake cap  ARGV[8] the job's queue  ARGV[9] pipeline id  ARGV[10] the job's key
-- ARGV[10+d] id of the d-th job below it
-- Returns {OK, new status} | {NOT_FOUND} | {LEASE_LOST, status} |
-- {WRONG_STATE, status} (the reaper's: not running, lease not expired, or attempts left)
local jk, id = KEYS[1], ARGV[1]
local now = now_ms()
local to, why = 'retrying', ARGV[3]
if ARGV[2] == '' then
  local f = redis.call('HMGET', jk, 'status', 'attempts', 'max_retries', 'worker')
  if not f[1] then return {NOT_FOUND} end
  local deadline = redis.call('ZSCORE', KEYS[2], id)
  if f[1] ~= 'running' or not deadline or tonumber(deadline) > now
    or tonumber(f[2] or '0') <= tonumber(f[3] or DEFAULT_MAX_RETRIES) then
    return {WRONG_STATE, f[1]}
  end
  why = 'lease expired: worker ' .. (f[4] or '?') .. ' stopped heartbeating; no attempts left'
  end_run(jk, id, KEYS[2], KEYS[4], KEYS[5], KEYS[6], ARGV[7])
  to = 'failed'
else
  local bad = check_run(jk, ARGV[2])
  if bad then
    if bad[1] == LEASE_LOST and bad[2] ~= 'completed' and redis.call('HGET', jk, 'token') == ARGV[2] then
      return {OK, bad[2]} -- failed by this very run already
    end
    return bad
  end
  end_run(jk, id, KEYS[2], KEYS[4], KEYS[5], KEYS[6], ARGV[7], true)
  local f = redis.call('HMGET', jk, 'attempts', 'max_retries')
  if ARGV[4] == '1' or tonumber(f[1] or '0') > tonumber(f[2] or DEFAULT_MAX_RETRIES) then
    to = 'failed'
  end
end
local events = {}
if to == 'failed' then
  redis.call('HSET', jk, 'status', 'failed', 'error', why, 'step', 'Job failed', 'completed_at', int(now))
  redis.call('ZADD', KEYS[7], int(now), id)
else
  local due = int(now + tonumber(ARGV[5]))
  redis.call('HSET', jk, 'status', 'retrying', 'error', why, 'run_at', due)
  redis.call('ZADD', KEYS[8], due, id)
  redis.call('SADD', KEYS[9], ARGV[8]) -- forgotten while the job ran, maybe
end
move_count(KEYS[3], 'running', to)
local g = redis.call('HMGET', jk, 'type', 'started_at', 'callback_url')
local hist = {}
hist_add(hist, ARGV[8], g[1], to == 'failed' and 'f' or 'r', 1, 'R', now - tonumber(g[2] or now))
local version = touch(jk, now)
if to == 'failed' and g[3] then set_hook(jk, KEYS[#KEYS - 1], id, version, now) end
add_job_event_kept(events, id, jk, job_list(jk, id, 'jobevents'))
if to == 'failed' then
  local below = 'cancelled: job ' .. ARGV[10] .. ' (' .. id .. ') failed'
  local n = 0
  for d = 1, #KEYS - 15 do
    local c = cancel_below(KEYS[13 + d], ARGV[10 + d], KEYS[12], KEYS[11], KEYS[3], below, now, events,
      KEYS[#KEYS - 1])
    if c == 1 then
      local b = redis.call('HMGET', KEYS[13 + d], 'queue', 'type')
      hist_add(hist, b[1] or DEFAULT_QUEUE, b[2], 'x')
    end
    n = n + c
  end
  redis.call('HINCRBY', KEYS[10], 'failed', 1)
  if n > 0 then redis.call('HINCRBY', KEYS[10], 'cancelled', n) end
end
publish_events(ARGV[6], events)
hist_write(hist, KEYS[#KEYS], now)
if to == 'failed' then pipe_settle(KEYS[10], KEYS[13], ARGV[6], ARGV[9], now, KEYS[#KEYS - 1]) end
return {OK, to}
