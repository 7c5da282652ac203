-- progress.lua: a running job's progress and current step; also extends
-- its lease, and refuses (LEASE_LOST) once the run no longer holds the job,
-- which tells the worker to stop the handler.
-- (Hot path: the job is read once and written once, and the event is
-- built from what was read.)
-- KEYS[1] job hash  KEYS[2] leases
-- ARGV[1] id  ARGV[2] run token  ARGV[3] percent  ARGV[4] step
-- ARGV[5] lease ms  ARGV[6] events channel
-- Returns {OK} | {NOT_FOUND} | {LEASE_LOST, status}
local f = redis.call('HMGET', KEYS[1], 'status', 'token', 'version', 'type', 'queue')
if not f[1] then return {NOT_FOUND} end
if f[1] ~= 'running' or f[2] ~= ARGV[2] then return {LEASE_LOST, f[1]} end
local now = now_ms()
local s = {status = 'running', progress = ARGV[3], step = ARGV[4], now = now,
  version = tonumber(f[3]) + 1, type = f[4], queue = f[5] or DEFAULT_QUEUE}
redis.call('HSET', KEYS[1], 'progress', ARGV[3], 'step', ARGV[4], 'updated_at', int(now),
  'version', s.version)
redis.call('ZADD', KEYS[2], int(now + tonumber(ARGV[5])), ARGV[1])
publish_state(ARGV[6], ARGV[1], s)
return {OK}
