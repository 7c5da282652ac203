-- promote.lua: scheduled → pending and retrying → pending for the due
-- candidates of one queue. Any number of workers run it at once: a job is
-- moved only if it is still in the set it was peeked from and due by the
-- Redis clock.
-- KEYS[1] scheduled zset  KEYS[2] retrying zset  KEYS[3] counts  KEYS[4] seq
-- KEYS[5] the queue's lane types set
-- KEYS[3+3i] job hash of candidate i  KEYS[4+3i] its lane  KEYS[5+3i] the lane's wake list
-- KEYS[5+3n+i] history of candidate i (n candidates)
-- ARGV[1] events channel  ARGV[2] wake cap  ARGV[1+2i] candidate i id  ARGV[2+2i] its type
-- Returns {OK, number promoted}
local now = now_ms()
local moved = 0
local events = {}
local cands = (#ARGV - 2) / 2
for i = 1, cands do
  local jk, id = KEYS[3 + 3 * i], ARGV[1 + 2 * i]
  local from = redis.call('HGET', jk, 'status')
  local set = nil
  if from == 'scheduled' then set = KEYS[1] elseif from == 'retrying' then set = KEYS[2] end
  local due = set and redis.call('ZSCORE', set, id)
  if due and tonumber(due) <= now then
    redis.call('ZREM', set, id)
    redis.call('HSET', jk, 'status', 'pending')
    enqueue(KEYS[4 + 3 * i], KEYS[5], ARGV[2 + 2 * i], KEYS[4], KEYS[5 + 3 * i], ARGV[2], jk, id)
    move_count(KEYS[3], from, 'pending')
    touch(jk, now)
    add_job_event_kept(events, id, jk, KEYS[5 + 3 * cands + i])
    moved = moved + 1
  end
end
publish_events(ARGV[1], events)
return {OK, moved}
