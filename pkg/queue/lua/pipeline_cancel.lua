-- pipeline_cancel.lua: cancels jobs of a pipeline, each from whatever
-- unfinished state it is in (a running one at once, as cancel.lua does:
-- its run can write nothing more, and its worker is told on the cancel
-- channel). Mode 'job': the first job is the one a user cancelled (it
-- must be unfinished), the others are the jobs below it, cancelled with
-- an error naming it. Mode 'pipeline': the pipeline must be running;
-- every unfinished job of it is cancelled.
-- KEYS[1] counts  KEYS[2] leases  KEYS[3] type running  KEYS[4] type limits
-- KEYS[5] cancelled zset  KEYS[6] waiting zset  KEYS[7] pipeline hash
-- KEYS[8] ended pipelines zset
-- KEYS[4+5i..8+5i], for job i: job hash, its lane, its queue's scheduled
--   and retrying zsets, the lane's wake list
-- KEYS[#KEYS - 1] hooks zset (callbacks to deliver)  KEYS[#KEYS] the history index (lib.lua: hist_write)
-- ARGV[1] events channel  ARGV[2] cancel channel  ARGV[3] wake cap
-- ARGV[4] pipeline id  ARGV[5] mode ('job' | 'pipeline')
-- ARGV[6] error of the jobs below the first (mode 'job'; '' in mode 'pipeline')
-- ARGV[6+i] id of job i
-- Returns {OK, number cancelled} | {NOT_FOUND} | {WRONG_STATE, status}
-- (of the first job, or of the pipeline)
local pst = redis.call('HGET', KEYS[7], 'status')
if not pst then return {NOT_FOUND} end
if ARGV[5] == 'pipeline' and pst ~= 'running' then return {WRONG_STATE, pst} end
local now = now_ms()
local events, n, hist = {}, 0, {}
for i = 1, (#KEYS - 10) / 5 do
  local jk, lk, sk, rk, wk = KEYS[4 + 5 * i], KEYS[5 + 5 * i], KEYS[6 + 5 * i], KEYS[7 + 5 * i], KEYS[8 + 5 * i]
  local id = ARGV[6 + i]
  local from = redis.call('HGET', jk, 'status')
  local ok = true
  if from == 'waiting' then
    redis.call('ZREM', KEYS[6], id)
    redis.call('HDEL', jk, 'waits')
  elseif from == 'pending' then
    redis.call('ZREM', lk, id)
  elseif from == 'scheduled' then
    redis.call('ZREM', sk, id)
  elseif from == 'retrying' then
    redis.call('ZREM', rk, id)
  elseif from == 'running' then
    end_run(jk, id, KEYS[2], KEYS[3], KEYS[4], wk, ARGV[3])
    redis.call('PUBLISH', ARGV[2], id)
  else
    ok = false
  end
  if i == 1 and ARGV[5] == 'job' and not ok then
    if not from then return {NOT_FOUND} end
    return {WRONG_STATE, from}
  end
  if ok then
    local h = {'status', 'cancelled', 'step', 'Job cancelled', 'completed_at', int(now)}
    if i > 1 and ARGV[6] ~= '' then h[#h + 1] = 'error'; h[#h + 1] = ARGV[6] end
    redis.call('HSET', jk, unpack(h))
    redis.call('ZADD', KEYS[5], int(now), id)
    move_count(KEYS[1], from, 'cancelled')
    local version = touch(jk, now)
    add_job_event_kept(events, id, jk, job_list(jk, id, 'jobevents'))
    local b = redis.call('HMGET', jk, 'queue', 'type', 'callback_url')
    if b[3] then set_hook(jk, KEYS[#KEYS - 1], id, version, now) end
    hist_add(hist, b[1] or DEFAULT_QUEUE, b[2], 'x')
    n = n + 1
  end
end
publish_events(ARGV[1], events)
hist_write(hist, KEYS[#KEYS], now)
if n > 0 then redis.call('HINCRBY', KEYS[7], 'cancelled', n) end
pipe_settle(KEYS[7], KEYS[8], ARGV[1], ARGV[4], now, KEYS[#KEYS - 1])
return {OK, n}
