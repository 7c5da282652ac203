-- fail.lua: running → retrying (attempts left: due after the backoff) or
-- running → failed (permanent error, or attempts used up), only for the run
-- holding the lease. The job keeps the run's token, so that the same run
-- failing it again (a client retrying after a lost answer) is answered
-- with the job's status as it now is, and changes nothing.
-- KEYS[1] job hash  KEYS[2] leases  KEYS[3] counts  KEYS[4] type running
-- KEYS[5] type limits  KEYS[6] wake list of the job's lane  KEYS[7] failed zset
-- KEYS[8] retrying zset of the queue  KEYS[9] queues set  KEYS[10] the history index
-- KEYS[11] hooks zset  KEYS[12] the job's events
-- ARGV[1] id  ARGV[2] run token  ARGV[3] error text  ARGV[4] permanent ('1'/'0')
-- ARGV[5] backoff ms  ARGV[6] events channel  ARGV[7] wake cap  ARGV[8] the job's queue
-- Returns {OK, new status} | {NOT_FOUND} | {LEASE_LOST, status}
local bad = check_run(KEYS[1], ARGV[2])
if bad then
  if bad[1] == LEASE_LOST and bad[2] ~= 'completed' and redis.call('HGET', KEYS[1], 'token') == ARGV[2] then
    return {OK, bad[2]} -- failed by this very run already
  end
  return bad
end
local now = now_ms()
end_run(KEYS[1], ARGV[1], KEYS[2], KEYS[4], KEYS[5], KEYS[6], ARGV[7], true)
local f = redis.call('HMGET', KEYS[1], 'attempts', 'max_retries', 'type', 'started_at', 'callback_url')
local to = 'retrying'
if ARGV[4] == '1' or tonumber(f[1] or '0') > tonumber(f[2] or DEFAULT_MAX_RETRIES) then
  to = 'failed'
  redis.call('HSET', KEYS[1], 'status', 'failed', 'error', ARGV[3],
    'step', 'Job failed', 'completed_at', int(now))
  redis.call('ZADD', KEYS[7], int(now), ARGV[1])
else
  local due = int(now + tonumber(ARGV[5]))
  redis.call('HSET', KEYS[1], 'status', 'retrying', 'error', ARGV[3], 'run_at', due)
  redis.call('ZADD', KEYS[8], due, ARGV[1])
  redis.call('SADD', KEYS[9], ARGV[8]) -- forgotten while the job ran, maybe
end
move_count(KEYS[3], 'running', to)
local hist = {}
hist_add(hist, ARGV[8], f[3], to == 'failed' and 'f' or 'r', 1, 'R', now - tonumber(f[4] or now))
hist_write(hist, KEYS[10], now)
local version = touch(KEYS[1], now)
if to == 'failed' and f[5] then set_hook(KEYS[1], KEYS[11], ARGV[1], version, now) end
publish_kept(ARGV[6], ARGV[1], KEYS[1], KEYS[12])
return {OK, to}
