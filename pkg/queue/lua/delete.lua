-- delete.lua: removes one finished (completed | failed | cancelled) job.
-- KEYS[1] job hash  KEYS[2] counts  KEYS[3] completed zset  KEYS[4] failed zset
-- KEYS[5] cancelled zset  KEYS[6] its unique key (its job hash when it has none)
-- KEYS[7] its history  KEYS[8] its log
-- ARGV[1] id
-- Returns {OK, status it had} | {NOT_FOUND} | {WRONG_STATE, status}
local from = redis.call('HGET', KEYS[1], 'status')
if not from then return {NOT_FOUND} end
local set = ({completed = KEYS[3], failed = KEYS[4], cancelled = KEYS[5]})[from]
if not set then return {WRONG_STATE, from} end
if KEYS[6] ~= KEYS[1] and redis.call('GET', KEYS[6]) == ARGV[1] then redis.call('DEL', KEYS[6]) end
redis.call('DEL', KEYS[1], KEYS[7], KEYS[8])
redis.call('ZREM', set, ARGV[1])
move_count(KEYS[2], from, nil)
return {OK, from}
