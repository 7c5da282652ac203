-- restart.lua: failed | cancelled → pending, same id. The run's history is
-- reset (attempts, progress, step, error, result, run timestamps, and the
-- deadline: an operator's restart is a new start) and the restart count
-- grows by one.
-- KEYS[1] job hash  KEYS[2] counts  KEYS[3] failed zset  KEYS[4] cancelled zset
-- KEYS[5] the job's lane  KEYS[6] seq  KEYS[7] wake list of the lane
-- KEYS[8] queues set  KEYS[9] the queue's lane types set  KEYS[10] history
-- ARGV[1] id  ARGV[2] queue the caller read  ARGV[3] events channel  ARGV[4] wake cap
-- ARGV[5] the job's type
-- Returns {OK, previous status} | {NOT_FOUND} | {WRONG_STATE, status}
local f = redis.call('HMGET', KEYS[1], 'status', 'queue')
if not f[1] then return {NOT_FOUND} end
if (f[2] or DEFAULT_QUEUE) ~= ARGV[2] then return redis.error_reply('restart: job queue is not ' .. ARGV[2]) end
local from = f[1]
if from == 'failed' then
  redis.call('ZREM', KEYS[3], ARGV[1])
elseif from == 'cancelled' then
  redis.call('ZREM', KEYS[4], ARGV[1])
else
  return {WRONG_STATE, from}
end
redis.call('HDEL', KEYS[1], 'attempts', 'progress', 'step', 'error', 'result',
  'started_at', 'completed_at', 'run_at', 'token', 'worker', 'deadline')
redis.call('HINCRBY', KEYS[1], 'restarts', 1)
redis.call('HSET', KEYS[1], 'status', 'pending')
enqueue(KEYS[5], KEYS[9], ARGV[5], KEYS[6], KEYS[7], ARGV[4], KEYS[1], ARGV[1])
redis.call('SADD', KEYS[8], ARGV[2]) -- forgotten since the job finished, maybe
move_count(KEYS[2], from, 'pending')
touch(KEYS[1], now_ms())
publish_kept(ARGV[3], ARGV[1], KEYS[1], KEYS[10])
return {OK, from}
