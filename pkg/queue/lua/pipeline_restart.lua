-- pipeline_restart.lua: failed | cancelled → pending or waiting for jobs
-- of a pipeline, under their ids, as restart.lua does (run history reset,
-- restart count + 1): a job whose parents all completed is pending, the
-- others wait again, those of several parents counting the ones they
-- wait for. Jobs come in
-- graph order (parents before children), so a parent restarted in this
-- step counts as unfinished for its children. Completed jobs are never
-- touched: they keep their results and times. Mode 'job': the first job
-- is the one a user restarted (it must be failed or cancelled), the
-- others the jobs below it (those failed or cancelled restart). Mode
-- 'pipeline': the pipeline must be failed or cancelled; every failed or
-- cancelled job of it restarts.
-- KEYS[1] counts  KEYS[2] failed zset  KEYS[3] cancelled zset  KEYS[4] seq
-- KEYS[5] waiting zset  KEYS[6] queues set  KEYS[7] pipeline hash
-- KEYS[8] ended pipelines zset
-- then, for each job in turn: its job hash, its lane, the lane's wake
-- list, its queue's lane types set, and the job hashes of its P parents
-- ARGV[1] events channel  ARGV[2] wake cap  ARGV[3] pipeline id
-- ARGV[4] mode ('job' | 'pipeline')
-- then, for each job in turn: id, type, queue, P
-- Returns {OK, number restarted} | {NOT_FOUND} | {WRONG_STATE, status}
-- (of the first job, or of the pipeline)
local pst = redis.call('HGET', KEYS[7], 'status')
if not pst then return {NOT_FOUND} end
if ARGV[4] == 'pipeline' and pst ~= 'failed' and pst ~= 'cancelled' then
  return {WRONG_STATE, pst}
end
local now = now_ms()
local events, n = {}, 0
local ended = {failed = 0, cancelled = 0}
local k, a = 8, 4 -- the keys and arguments read so far
local first = true
while a < #ARGV do
  local jk, lk, wk, tk = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4]
  local id, typ, queue, np = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], tonumber(ARGV[a + 4])
  local from = redis.call('HGET', jk, 'status')
  if first and ARGV[4] == 'job' and from ~= 'failed' and from ~= 'cancelled' then
    if not from then return {NOT_FOUND} end
    return {WRONG_STATE, from}
  end
  if from == 'failed' or from == 'cancelled' then
    local waits = 0
    for p = 1, np do
      if redis.call('HGET', KEYS[k + 4 + p], 'status') ~= 'completed' then waits = waits + 1 end
    end
    redis.call('ZREM', from == 'failed' and KEYS[2] or KEYS[3], id)
    redis.call('HDEL', jk, 'attempts', 'progress', 'step', 'error', 'result',
      'started_at', 'completed_at', 'run_at', 'token', 'worker', 'waits')
    redis.call('HINCRBY', jk, 'restarts', 1)
    if waits == 0 then
      redis.call('HSET', jk, 'status', 'pending')
      enqueue(lk, tk, typ, KEYS[4], wk, ARGV[2], jk, id)
      redis.call('SADD', KEYS[6], queue) -- forgotten since the job finished, maybe
      move_count(KEYS[1], from, 'pending')
    else
      if np > 1 then
        redis.call('HSET', jk, 'status', 'waiting', 'waits', waits)
      else -- one parent: no count (pipeline_submit.lua)
        redis.call('HSET', jk, 'status', 'waiting')
      end
      redis.call('ZADD', KEYS[5], int(now), id)
      move_count(KEYS[1], from, 'waiting')
    end
    ended[from] = ended[from] + 1
    touch(jk, now)
    add_job_event_kept(events, id, jk, job_list(jk, id, 'jobevents'))
    n = n + 1
  end
  first = false
  k, a = k + 4 + np, a + 4
end
publish_events(ARGV[1], events)
for st, c in pairs(ended) do
  if c > 0 then redis.call('HINCRBY', KEYS[7], st, -c) end
end
if n > 0 then redis.call('HINCRBY', KEYS[7], 'restarts', 1) end -- (pipe_as_submitted)
pipe_settle(KEYS[7], KEYS[8], ARGV[1], ARGV[3], now)
return {OK, n}
