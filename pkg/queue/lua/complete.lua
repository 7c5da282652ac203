-- complete.lua: running → completed, only for the run holding the lease.
-- KEYS[1] job hash  KEYS[2] leases  KEYS[3] counts  KEYS[4] type running
-- KEYS[5] type limits  KEYS[6] wake list of the queue  KEYS[7] completed zset
-- ARGV[1] id  ARGV[2] run token  ARGV[3] result JSON ('' for none)
-- ARGV[4] events channel  ARGV[5] wake cap
-- Returns {OK} | {NOT_FOUND} | {LEASE_LOST, status}
local bad = check_run(KEYS[1], ARGV[2])
if bad then return bad end
local now = now_ms()
end_run(KEYS[1], ARGV[1], KEYS[2], KEYS[4], KEYS[5], KEYS[6], ARGV[5])
redis.call('HSET', KEYS[1], 'status', 'completed', 'progress', 100,
  'step', 'Job completed successfully', 'completed_at', int(now))
redis.call('HDEL', KEYS[1], 'error')
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'result', ARGV[3]) end
redis.call('ZADD', KEYS[7], int(now), ARGV[1])
move_count(KEYS[3], 'running', 'completed')
touch(KEYS[1], now)
publish(ARGV[4], ARGV[1], KEYS[1])
return {OK}
