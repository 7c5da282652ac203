-- progress.lua: a running job's progress and current step; also extends
-- its lease, and refuses (LEASE_LOST) once the run no longer holds the job,
-- which tells the worker to stop the handler.
-- KEYS[1] job hash  KEYS[2] leases
-- ARGV[1] id  ARGV[2] run token  ARGV[3] percent  ARGV[4] step
-- ARGV[5] lease ms  ARGV[6] events channel
-- Returns {OK} | {NOT_FOUND} | {LEASE_LOST, status}
local bad = check_run(KEYS[1], ARGV[2])
if bad then return bad end
local now = now_ms()
redis.call('HSET', KEYS[1], 'progress', ARGV[3], 'step', ARGV[4])
redis.call('ZADD', KEYS[2], int(now + tonumber(ARGV[5])), ARGV[1])
touch(KEYS[1], now)
publish(ARGV[6], ARGV[1], KEYS[1])
return {OK}
