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
local now_s, version = int(now), int(f[3] + 1)
redis.call('HSET', KEYS[1], 'progress', ARGV[3], 'step', ARGV[4], 'updated_at', now_s,
  'version', version)
redis.call('ZADD', KEYS[2], int(now + tonumber(ARGV[5])), ARGV[1])
-- ARGV[3] is a JSON number (go-redis formats a float64 with 'f', -1).
local ev = {}
add_event(ev, ARGV[1], 'running', ARGV[3], cjson.encode(ARGV[4]), version, now_s, f[4],
  f[5] or DEFAULT_QUEUE)
publish_events(ARGV[6], ev)
return {OK}
