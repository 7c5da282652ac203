-- schedule_create.lua: a new schedule, active, first due at its next run.
-- KEYS[1] schedule hash  KEYS[2] schedule names zset  KEYS[3] due zset
-- ARGV[1] name  ARGV[2] the most schedules there may be (0: no bound)
-- ARGV[3] next run ms  ARGV[4..] the hash's fields and values
-- Returns {OK} | {DUPLICATE} (the name is taken) | {SCHEDULE_LIMIT, bound}
if redis.call('EXISTS', KEYS[1]) == 1 then return {DUPLICATE} end
local bound = tonumber(ARGV[2])
if bound > 0 and redis.call('ZCARD', KEYS[2]) >= bound then return {SCHEDULE_LIMIT, ARGV[2]} end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('ZADD', KEYS[2], 0, ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return {OK}
