-- forget.lua: drops empty lanes from their queues' sets of lane types
-- (with their wake lists), and empty queues from the queue registry (the
-- queues set lists and stats walk). A lane is empty when its pending set
-- is; a queue, when it has no lane left and its scheduled and retrying
-- sets are empty: checked here, atomically, so a submission to it is
-- either seen (and it stays) or comes after (and adds it back). Its
-- running jobs, if any, add it back when they return to a set of it
-- (fail, reap, requeue); its finished jobs are indexed apart from their
-- queue.
-- KEYS[1] queues set
-- KEYS[3i-1] scheduled, KEYS[3i] retrying zset, KEYS[3i+1] lane types set of queue i (i = 1..N)
-- KEYS[3N+2j] lane j, KEYS[3N+2j+1] its wake list
-- ARGV[1] N, the number of queues  ARGV[1+i] queue i's name
-- ARGV[N+2j] the number of lane j's queue  ARGV[N+2j+1] lane j's type
-- Returns {OK, number of queues forgotten}
local nq = tonumber(ARGV[1])
for j = 1, (#KEYS - 1 - 3 * nq) / 2 do
  local lk = KEYS[3 * nq + 2 * j]
  if redis.call('ZCARD', lk) == 0 then
    local q = tonumber(ARGV[nq + 2 * j])
    redis.call('SREM', KEYS[3 * q + 1], ARGV[nq + 2 * j + 1])
    redis.call('DEL', KEYS[3 * nq + 2 * j + 1])
  end
end
local forgotten = 0
for i = 1, nq do
  if redis.call('SCARD', KEYS[3 * i + 1]) == 0 and redis.call('ZCARD', KEYS[3 * i - 1]) == 0
    and redis.call('ZCARD', KEYS[3 * i]) == 0 then
    forgotten = forgotten + redis.call('SREM', KEYS[1], ARGV[1 + i])
  end
end
return {OK, forgotten}
