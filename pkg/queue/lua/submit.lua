-- submit.lua: create a job, pending, or scheduled when run_at is in the future.
-- KEYS[1] job hash        KEYS[2] pending zset of the queue
-- KEYS[3] scheduled zset  KEYS[4] counts       KEYS[5] queues set
-- KEYS[6] seq             KEYS[7] wake list    KEYS[8] unique key (ignored when ARGV[9] is '')
-- ARGV[1] id  ARGV[2] type  ARGV[3] queue  ARGV[4] payload JSON  ARGV[5] priority
-- ARGV[6] max_retries  ARGV[7] timeout ms  ARGV[8] run_at ms (0: now)
-- ARGV[9] unique key value  ARGV[10] events channel  ARGV[11] wake cap
-- Returns {OK, status, created_at ms} | {DUPLICATE, id of the job holding the key}
if ARGV[9] ~= '' then
  local holder = redis.call('GET', KEYS[8])
  if holder then return {DUPLICATE, holder} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {DUPLICATE, ARGV[1]} end

local now = now_ms()
local status = 'pending'
if tonumber(ARGV[8]) > now then status = 'scheduled' end

-- Fields at their default are not stored: a pending job stays small.
redis.call('HSET', KEYS[1], 'type', ARGV[2], 'queue', ARGV[3], 'payload', ARGV[4],
  'status', status, 'max_retries', ARGV[6], 'created_at', int(now), 'version', 0)
if ARGV[5] ~= '0' then redis.call('HSET', KEYS[1], 'priority', ARGV[5]) end
if ARGV[7] ~= '0' then redis.call('HSET', KEYS[1], 'timeout_ms', ARGV[7]) end
if ARGV[9] ~= '' then
  redis.call('HSET', KEYS[1], 'unique_key', ARGV[9])
  redis.call('SET', KEYS[8], ARGV[1])
end

if status == 'scheduled' then
  redis.call('HSET', KEYS[1], 'run_at', ARGV[8])
  redis.call('ZADD', KEYS[3], ARGV[8], ARGV[1])
else
  enqueue(KEYS[2], KEYS[6], KEYS[7], ARGV[11], KEYS[1], ARGV[1])
end
redis.call('SADD', KEYS[5], ARGV[3])
move_count(KEYS[4], nil, status)
touch(KEYS[1], now)
publish(ARGV[10], ARGV[1], KEYS[1])
return {OK, status, int(now)}
