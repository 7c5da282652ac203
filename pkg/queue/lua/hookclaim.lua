-- hookclaim.lua: take the due callback deliveries among the candidates
-- (peeked from the hooks set without a lock), each under a lease: its
-- score in the hooks set becomes the lease's deadline, so that a
-- deliverer that dies leaves it due again then, and any other deliverer
-- takes it. A candidate no longer due (another deliverer took it) is left
-- alone; one whose job is gone, or no longer ended (restarted), is
-- dropped from the set.
-- (A candidate is a job's id with its job's hash, or a pipeline's entry,
-- 'pipeline:<id>', with its pipeline's hash: both hold the same fields.)
-- KEYS[1] hooks zset  KEYS[1+i] job hash of candidate i
-- ARGV[1] lease ms  ARGV[2] claim token  ARGV[2+i] candidate i id
-- Returns {OK, id, row, id, row, ...}: for each delivery taken its job id
-- and its job's hash (HGETALL order), its claim token written.
local now = now_ms()
local deadline = int(now + tonumber(ARGV[1]))
local out = {OK}
local ended = {completed = true, failed = true, cancelled = true}
for i = 1, #KEYS - 1 do
  local jk, id = KEYS[1 + i], ARGV[2 + i]
  local due = redis.call('ZSCORE', KEYS[1], id)
  if due and tonumber(due) <= now then
    local f = redis.call('HMGET', jk, 'status', 'hook_state')
    if f[2] ~= 'pending' or not ended[f[1]] then
      redis.call('ZREM', KEYS[1], id)
      if f[2] == 'pending' then redis.call('HSET', jk, 'hook_state', 'dropped') end
    else
      redis.call('ZADD', KEYS[1], deadline, id)
      redis.call('HSET', jk, 'hook_token', ARGV[2])
      out[#out + 1] = id
      out[#out + 1] = redis.call('HGETALL', jk)
    end
  end
end
return out
