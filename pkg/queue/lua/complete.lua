-- complete.lua: running → completed, only for the run holding the lease.
-- (Hot path: reads the job once and writes it once.)
-- KEYS[1] job hash  KEYS[2] leases  KEYS[3] counts  KEYS[4] type running
-- KEYS[5] type limits  KEYS[6] wake list of the queue  KEYS[7] completed zset
-- ARGV[1] id  ARGV[2] run token  ARGV[3] result JSON ('' for none)
-- ARGV[4] events channel  ARGV[5] wake cap
-- Returns {OK} | {NOT_FOUND} | {LEASE_LOST, status}
local f = redis.call('HMGET', KEYS[1], 'status', 'token', 'type', 'queue', 'version')
if not f[1] then return {NOT_FOUND} end
if f[1] ~= 'running' or f[2] ~= ARGV[2] then return {LEASE_LOST, f[1]} end
local now = now_ms()
local s = {status = 'completed', progress = 100, step = 'Job completed successfully',
  version = tonumber(f[5]) + 1, now = now, type = f[3], queue = f[4] or DEFAULT_QUEUE}
redis.call('ZREM', KEYS[2], ARGV[1])
release_type(f[3], KEYS[4], KEYS[5], KEYS[6], ARGV[5])
redis.call('HSET', KEYS[1], 'status', s.status, 'progress', 100, 'step', s.step,
  'completed_at', int(now), 'updated_at', int(now), 'version', s.version)
redis.call('HDEL', KEYS[1], 'token', 'error')
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'result', ARGV[3]) end
redis.call('ZADD', KEYS[7], int(now), ARGV[1])
move_count(KEYS[3], 'running', 'completed')
publish_state(ARGV[4], ARGV[1], s)
return {OK}
