-- schedule_delete.lua: remove a schedule. The jobs it created stay.
-- KEYS[1] schedule hash  KEYS[2] schedule names zset  KEYS[3] due zset
-- ARGV[1] name
-- Returns {OK} | {NOT_FOUND}
if redis.call('DEL', KEYS[1]) == 0 then return {NOT_FOUND} end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return {OK}
