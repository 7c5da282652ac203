-- register.lua: a worker's heartbeat in the registry of live workers. Its
-- hash expires by itself when heartbeats stop; ids whose entry expired are
-- pruned here. Each worker has its own time to live (a Go worker its
-- lease, an HTTP worker its lease and wait), so the set is scored by each
-- entry's expiry, not by its last heartbeat. With no fields given (a
-- heartbeat that only says the worker is alive), an entry that is gone
-- is not made again: it would lack what the worker announced.
-- KEYS[1] workers zset  KEYS[2] worker hash
-- ARGV[1] worker id  ARGV[2] ttl ms  ARGV[3..] field, value, ...
-- Returns {OK, now ms} | {NOT_FOUND} (no fields, and no entry)
local now = now_ms()
if #ARGV == 2 and redis.call('EXISTS', KEYS[2]) == 0 then return {NOT_FOUND} end
redis.call('HSET', KEYS[2], 'last_seen', int(now), unpack(ARGV, 3))
if redis.call('HEXISTS', KEYS[2], 'started_at') == 0 then -- a worker that does not say
  redis.call('HSET', KEYS[2], 'started_at', int(now))
end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[1], int(now + tonumber(ARGV[2])), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. int(now))
return {OK, int(now)}
