-- forget.lua: drops empty queues from the queue registry (the queues set
-- lists and stats walk), with their wake lists. A queue is empty when its
-- pending, scheduled and retrying sets are: checked here, atomically, so
-- a submission to it is either seen (and it stays) or comes after (and
-- adds it back). Its running jobs, if any, add it back when they return
-- to a set of it (fail, reap, requeue); its finished jobs are indexed
-- apart from their queue.
-- KEYS[1] queues set
-- KEYS[-2+4i] pending, KEYS[-1+4i] scheduled, KEYS[4i] retrying zset,
-- KEYS[1+4i] wake list of candidate i
-- ARGV[i] candidate i's name
-- Returns {OK, number forgotten}
local forgotten = 0
for i = 1, #ARGV do
  local b = 4 * i - 2
  if redis.call('ZCARD', KEYS[b]) == 0 and redis.call('ZCARD', KEYS[b + 1]) == 0
    and redis.call('ZCARD', KEYS[b + 2]) == 0 then
    forgotten = forgotten + redis.call('SREM', KEYS[1], ARGV[i])
    redis.call('DEL', KEYS[b + 3])
  end
end
return {OK, forgotten}
