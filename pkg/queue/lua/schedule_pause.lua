-- schedule_pause.lua: pause a schedule (it leaves the due set: no tick
-- fires, none is caught up later) or resume it (due again at its next
-- run from now). Either is a no-op when the schedule is so already.
-- KEYS[1] schedule hash  KEYS[2] due zset
-- ARGV[1] name  ARGV[2] '1' pause, '0' resume  ARGV[3] next run ms (resume)
-- ARGV[4] now ms (updated_at)
-- Returns {OK} | {NOT_FOUND}
if redis.call('EXISTS', KEYS[1]) == 0 then return {NOT_FOUND} end
local paused = redis.call('HGET', KEYS[1], 'paused') == '1'
if ARGV[2] == '1' and not paused then
  redis.call('HSET', KEYS[1], 'paused', '1', 'updated_at', ARGV[4])
  redis.call('ZREM', KEYS[2], ARGV[1])
elseif ARGV[2] == '0' and paused then
  redis.call('HDEL', KEYS[1], 'paused')
  redis.call('HSET', KEYS[1], 'next_run', ARGV[3], 'updated_at', ARGV[4])
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
end
return {OK}
