-- cancel.lua: pending | scheduled | retrying | running → cancelled.
-- A running job is cancelled here at once; its worker learns of it from
-- the cancel channel, or at the latest from its next heartbeat or progress
-- write (extend.lua, progress.lua), and its old run can write nothing more:
-- end_run removed its token.
-- KEYS[1] job hash  KEYS[2] counts  KEYS[3] lane (pending zset)  KEYS[4] scheduled zset
-- KEYS[5] retrying zset  KEYS[6] leases  KEYS[7] type running  KEYS[8] type limits
-- KEYS[9] wake list of the lane  KEYS[10] cancelled zset   (the job's queue and type)
-- KEYS[11] the history index  KEYS[12] hooks zset  KEYS[13] the job's events (jobevents.go)
-- ARGV[1] id  ARGV[2] queue the caller read  ARGV[3] events channel
-- ARGV[4] cancel channel  ARGV[5] wake cap
-- Returns {OK, previous status} | {NOT_FOUND} | {WRONG_STATE, status}
local f = redis.call('HMGET', KEYS[1], 'status', 'queue', 'type', 'callback_url')
if not f[1] then return {NOT_FOUND} end
if (f[2] or DEFAULT_QUEUE) ~= ARGV[2] then return redis.error_reply('cancel: job queue is not ' .. ARGV[2]) end
local from = f[1]
if from == 'pending' then
  redis.call('ZREM', KEYS[3], ARGV[1])
elseif from == 'scheduled' then
  redis.call('ZREM', KEYS[4], ARGV[1])
elseif from == 'retrying' then
  redis.call('ZREM', KEYS[5], ARGV[1])
elseif from == 'running' then
  end_run(KEYS[1], ARGV[1], KEYS[6], KEYS[7], KEYS[8], KEYS[9], ARGV[5])
  redis.call('PUBLISH', ARGV[4], ARGV[1])
else
  return {WRONG_STATE, from}
end
local now = now_ms()
redis.call('HSET', KEYS[1], 'status', 'cancelled', 'step', 'Job cancelled',
  'completed_at', int(now))
redis.call('ZADD', KEYS[10], int(now), ARGV[1])
move_count(KEYS[2], from, 'cancelled')
local hist = {}
hist_add(hist, ARGV[2], f[3], 'x')
hist_write(hist, KEYS[11], now)
local version = touch(KEYS[1], now)
if f[4] then set_hook(KEYS[1], KEYS[12], ARGV[1], version, now) end
publish_kept(ARGV[3], ARGV[1], KEYS[1], KEYS[13])
return {OK, from}
