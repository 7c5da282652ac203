-- register.lua: a worker's heartbeat in the registry of live workers. Its
-- hash expires by itself when heartbeats stop; stale ids are pruned here.
-- KEYS[1] workers zset  KEYS[2] worker hash
-- ARGV[1] worker id  ARGV[2] ttl ms  ARGV[3..] field, value, ...
-- Returns {OK, now ms}
local now = now_ms()
redis.call('HSET', KEYS[2], 'last_seen', int(now), unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[1], int(now), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. int(now - tonumber(ARGV[2])))
return {OK, int(now)}
