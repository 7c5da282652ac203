-- pipeline_expire.lua: removes an ended pipeline whose retention ran out,
-- with all its jobs, keeping the counters exact; unless a callback of it
-- or of one of its jobs is still being delivered (as expire.lua holds a
-- job back): then the whole pipeline is kept, until hold after its end.
-- KEYS[1] pipeline hash  KEYS[2] ended pipelines zset  KEYS[3] counts
-- KEYS[4] its unique key (the pipeline hash when it has none)
-- KEYS[5] completed zset  KEYS[6] failed zset  KEYS[7] cancelled zset
-- KEYS[7+i] job hash of job i
-- ARGV[1] pipeline id  ARGV[2] retention ms
-- ARGV[3] how long a callback still being delivered holds the pipeline
-- back, ms from its end (0: not at all)  ARGV[3+i] id of job i
-- Returns {OK, number of jobs removed} ({OK, -1}: not ended long enough,
-- or held back, kept)
local ended = redis.call('ZSCORE', KEYS[2], ARGV[1])
local now = now_ms()
if not ended or tonumber(ended) > now - tonumber(ARGV[2]) then return {OK, -1} end
local held = tonumber(ended) > now - tonumber(ARGV[3])
local sts = {}
for i = 1, #KEYS - 7 do
  local f = redis.call('HMGET', KEYS[7 + i], 'status', 'hook_state')
  if held and f[2] == 'pending' then return {OK, -1} end
  sts[i] = f[1]
end
if held and redis.call('HGET', KEYS[1], 'hook_state') == 'pending' then return {OK, -1} end
local sets = {completed = KEYS[5], failed = KEYS[6], cancelled = KEYS[7]}
local n = 0
for i = 1, #KEYS - 7 do
  local st = sts[i]
  if sets[st] then
    redis.call('DEL', KEYS[7 + i], job_list(KEYS[7 + i], ARGV[3 + i], 'jobevents'),
      job_list(KEYS[7 + i], ARGV[3 + i], 'log'))
    redis.call('ZREM', sets[st], ARGV[3 + i])
    move_count(KEYS[3], st, nil)
    n = n + 1
  end
end
if KEYS[4] ~= KEYS[1] and redis.call('GET', KEYS[4]) == ARGV[1] then redis.call('DEL', KEYS[4]) end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return {OK, n}
