-- schedule_tick.lua: the claim of one tick of a schedule. The caller has
-- created the tick's job (or found it, created by another process: its
-- unique key names the schedule and the tick); this moves the schedule on
-- to its next run, once: only the call that finds next_run still at the
-- tick, and the tick due by the Redis clock, moves it and counts it.
-- KEYS[1] schedule hash  KEYS[2] due zset
-- ARGV[1] name  ARGV[2] the tick (its next_run as read, ms)  ARGV[3] next run ms
-- ARGV[4] the tick's job id ('' when it could not be created)
-- ARGV[5] '1' when the tick is a catch-up (later ticks were missed too)
-- ARGV[6] why the job could not be created ('' when it was)
-- Returns {OK} | {NOT_FOUND} | {WRONG_STATE, next_run}: the tick was
-- claimed already, or is not due yet
local f = redis.call('HMGET', KEYS[1], 'next_run', 'paused')
if not f[1] then return {NOT_FOUND} end
if f[1] ~= ARGV[2] or tonumber(ARGV[2]) > now_ms() then return {WRONG_STATE, f[1]} end
redis.call('HSET', KEYS[1], 'next_run', ARGV[3], 'last_run', ARGV[2])
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'last_job_id', ARGV[4])
  redis.call('HDEL', KEYS[1], 'last_error')
  redis.call('HINCRBY', KEYS[1], 'fired', 1)
  if ARGV[5] == '1' then redis.call('HINCRBY', KEYS[1], 'caught_up', 1) end
else
  redis.call('HSET', KEYS[1], 'last_error', ARGV[6])
end
if f[2] ~= '1' then redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1]) end
return {OK}
