-- hookack.lua: record one attempt of a callback delivery, only for the
-- deliverer whose claim still holds it (its token): the attempt joins the
-- job's last ones (at most ARGV[5]), and the delivery is due again at
-- ARGV[4] (pending), or done (delivered, or failed: given up).
-- KEYS[1] hooks zset  KEYS[2] job hash
-- ARGV[1] job id (a pipeline's: its hooks set entry)  ARGV[2] claim token  ARGV[3] new state: pending | delivered | failed
-- ARGV[4] when a pending delivery is due again (ms)  ARGV[5] attempts kept
-- ARGV[6] the attempt (a JSON object)
-- Returns {OK} | {NOT_FOUND} | {LEASE_LOST, hook state}
local f = redis.call('HMGET', KEYS[2], 'hook_token', 'hook_attempts', 'hook_state')
if not f[3] then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return {NOT_FOUND}
end
if f[1] ~= ARGV[2] then return {LEASE_LOST, f[3]} end
local attempts = f[2] and cjson.decode(f[2]) or {}
attempts[#attempts + 1] = cjson.decode(ARGV[6])
local keep = tonumber(ARGV[5])
while #attempts > keep do table.remove(attempts, 1) end
redis.call('HSET', KEYS[2], 'hook_state', ARGV[3], 'hook_attempts', cjson.encode(attempts))
redis.call('HINCRBY', KEYS[2], 'hook_tries', 1)
if ARGV[3] == 'pending' then
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], 'hook_token')
end
return {OK}
